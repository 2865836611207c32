//! The pace of an endpoint (PostgreSQL): deferring held-back deliveries without counting an
//! attempt, holding an endpoint's queue through a pause, and the saved pace record. The pause
//! lives in the shared queue (held deliveries are due when it ends), so every node obeys it.

use super::db::Pg;
use super::{exec, new_id, opt, Tx};
use crate::shared::endpoints;
use crate::webhooks::{AttemptResult, DeliveryJob, PaceRecord};
use crate::Result;

pub(crate) async fn defer(
    tx: &Tx<'_>,
    node: &str,
    job: &DeliveryJob,
    until: i64,
    refusal: Option<&AttemptResult>,
    now: i64,
) -> Result<bool> {
    if let Some(r) = refusal {
        let account: Option<i64> = opt(
            tx,
            "SELECT account_id FROM endpoints WHERE id = $1",
            &[&job.endpoint_id],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
        // An endpoint deleted meanwhile has no log to write to.
        if let Some(account_id) = account {
            let at = datahooks_domain::time::format(
                chrono::DateTime::from_timestamp_millis(now).unwrap_or_default(),
            );
            exec(
                tx,
                "INSERT INTO attempts (id, account_id, msg_id, endpoint_id, url, status,
                     response_status_code, response, duration_ms, trigger_type, timestamp)
                 VALUES ($1, $2, $3, $4, $5, 2, $6, $7, $8, $9, $10)",
                &[
                    &new_id("atmpt"),
                    &account_id,
                    &job.msg_id,
                    &job.endpoint_id,
                    &job.url,
                    &r.status_code,
                    &r.response,
                    &r.duration_ms,
                    &job.trigger_type,
                    &at,
                ],
            )
            .await?;
        }
    }
    // Same guard as `complete`: only the lease holder moves the delivery.
    let moved = exec(
        tx,
        "UPDATE deliveries SET status = 1, next_attempt_at = $3, lease_owner = NULL,
             lease_until = NULL
         WHERE id = $1 AND lease_owner = $2 AND status = 3",
        &[&job.delivery_id, &node, &until],
    )
    .await?;
    Ok(moved == 1)
}

pub(crate) async fn hold(
    tx: &Tx<'_>,
    endpoint_id: &str,
    until: i64,
    pace: &PaceRecord,
) -> Result<u64> {
    let n = exec(
        tx,
        "UPDATE deliveries SET next_attempt_at = $2
         WHERE endpoint_id = $1 AND status = 1 AND next_attempt_at < $2",
        &[&endpoint_id, &until],
    )
    .await?;
    save(tx, endpoint_id, pace).await?;
    Ok(n)
}

pub(crate) async fn save(tx: &Tx<'_>, endpoint_id: &str, p: &PaceRecord) -> Result<()> {
    exec(
        tx,
        "UPDATE endpoints SET pace_state = $2, pace_until = $3, pace_limit = $4,
             pace_rate_cap = $5, pace_recent_rate = $6, pace_updated_at = $7
         WHERE id = $1",
        &[
            &endpoint_id,
            &p.state,
            &p.until,
            &p.limit,
            &p.rate_cap,
            &p.recent_rate,
            &p.updated_at,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn get(tx: &Tx<'_>, account_id: i64, id: &str) -> Result<Option<PaceRecord>> {
    let ep = endpoints::get_app(&Pg(tx), account_id, id).await?;
    let Some(row) = opt(
        tx,
        "SELECT pace_state, pace_until, pace_limit, pace_rate_cap, pace_recent_rate,
                pace_updated_at
         FROM endpoints WHERE id = $1",
        &[&ep.id],
    )
    .await?
    else {
        return Ok(None);
    };
    let state: Option<String> = row.try_get(0)?;
    let limit: Option<i64> = row.try_get(2)?;
    let updated_at: Option<i64> = row.try_get(5)?;
    Ok(match (state, limit, updated_at) {
        (Some(state), Some(limit), Some(updated_at)) => Some(PaceRecord {
            state,
            until: row.try_get(1)?,
            limit,
            rate_cap: row.try_get(3)?,
            recent_rate: row.try_get::<_, Option<f64>>(4)?.unwrap_or(0.0),
            updated_at,
        }),
        _ => None,
    })
}
