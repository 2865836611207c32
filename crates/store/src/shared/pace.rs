//! The pace of an endpoint: deferring held-back deliveries without counting an attempt,
//! holding an endpoint's queue through a pause, and the saved pace record. One text for both
//! backends; the pause lives in the shared queue (held deliveries are due when it ends), so
//! every node obeys it.

use super::new_id;
use crate::sql::{from_cols, Cols, Db};
use crate::webhooks::{AttemptResult, DeliveryJob, PaceRecord};
use crate::Result;

/// Puts a leased delivery back in the queue, due at `until`, without counting an attempt;
/// with `refusal` (the receiver's answer that held it back) logged as an attempt. False when
/// this node no longer holds the lease.
pub(crate) async fn defer(
    db: &impl Db,
    node: &str,
    job: &DeliveryJob,
    until: i64,
    refusal: Option<&AttemptResult>,
    now: i64,
) -> Result<bool> {
    if let Some(r) = refusal {
        let account = db
            .opt(
                "SELECT account_id FROM endpoints WHERE id = $1",
                &[&job.endpoint_id],
                |row| row.get::<i64>("account_id"),
            )
            .await?;
        // An endpoint deleted meanwhile has no log to write to.
        if let Some(account_id) = account {
            let at = datahooks_domain::time::format(
                chrono::DateTime::from_timestamp_millis(now).unwrap_or_default(),
            );
            db.exec(
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
    let moved = db
        .exec(
            "UPDATE deliveries SET status = 1, next_attempt_at = $3, lease_owner = NULL,
                 lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 3",
            &[&job.delivery_id, &node, &until],
        )
        .await?;
    Ok(moved == 1)
}

/// Makes the endpoint's pending deliveries due no sooner than `until` and saves its pace;
/// returns how many were held.
pub(crate) async fn hold(
    db: &impl Db,
    endpoint_id: &str,
    until: i64,
    pace: &PaceRecord,
) -> Result<u64> {
    let n = db
        .exec(
            "UPDATE deliveries SET next_attempt_at = $2
             WHERE endpoint_id = $1 AND status = 1 AND next_attempt_at < $2",
            &[&endpoint_id, &until],
        )
        .await?;
    save(db, endpoint_id, pace).await?;
    Ok(n)
}

/// Saves an endpoint's pace record.
pub(crate) async fn save(db: &impl Db, endpoint_id: &str, p: &PaceRecord) -> Result<()> {
    db.exec(
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

/// The pace columns of an endpoint row, as stored (all NULL before a worker saved any).
struct PaceRow {
    state: Option<String>,
    until: Option<i64>,
    limit: Option<i64>,
    rate_cap: Option<f64>,
    recent_rate: Option<f64>,
    updated_at: Option<i64>,
}

/// The saved pace of an endpoint (by its row id; the caller has found it in the account);
/// `None` before a worker saved any.
pub(crate) async fn get(db: &impl Db, endpoint_id: &str) -> Result<Option<PaceRecord>> {
    let row = db
        .opt(
            "SELECT pace_state, pace_until, pace_limit, pace_rate_cap, pace_recent_rate,
                    pace_updated_at
             FROM endpoints WHERE id = $1",
            &[&endpoint_id],
            |r| {
                Ok(from_cols!(r => PaceRow {
                    state = "pace_state", until = "pace_until", limit = "pace_limit",
                    rate_cap = "pace_rate_cap", recent_rate = "pace_recent_rate",
                    updated_at = "pace_updated_at",
                }))
            },
        )
        .await?;
    Ok(match row {
        Some(PaceRow {
            state: Some(state),
            until,
            limit: Some(limit),
            rate_cap,
            recent_rate,
            updated_at: Some(updated_at),
        }) => Some(PaceRecord {
            state,
            until,
            limit,
            rate_cap,
            recent_rate: recent_rate.unwrap_or(0.0),
            updated_at,
        }),
        _ => None,
    })
}
