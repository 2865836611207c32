//! The pace of an endpoint (SQLite): deferring held-back deliveries without counting an
//! attempt, holding an endpoint's queue through a pause, and the saved pace record.

use rusqlite::{params, OptionalExtension, Transaction};

use super::db::Lite;
use super::new_id;
use crate::shared::endpoints;
use crate::sql::block_now;
use crate::webhooks::{AttemptResult, DeliveryJob, PaceRecord};
use crate::Result;

pub(crate) fn defer(
    tx: &Transaction<'_>,
    node: &str,
    job: &DeliveryJob,
    until: i64,
    refusal: Option<&AttemptResult>,
    now: i64,
) -> Result<bool> {
    if let Some(r) = refusal {
        let account_id: Option<i64> = tx
            .query_row(
                "SELECT account_id FROM endpoints WHERE id = ?1",
                [&job.endpoint_id],
                |row| row.get(0),
            )
            .optional()?;
        // An endpoint deleted meanwhile has no log to write to.
        if let Some(account_id) = account_id {
            let at = datahooks_domain::time::format(
                chrono::DateTime::from_timestamp_millis(now).unwrap_or_default(),
            );
            tx.prepare_cached(
                "INSERT INTO attempts (id, account_id, msg_id, endpoint_id, url, status,
                     response_status_code, response, duration_ms, trigger_type, timestamp)
                 VALUES (?1, ?2, ?3, ?4, ?5, 2, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                new_id("atmpt"),
                account_id,
                job.msg_id,
                job.endpoint_id,
                job.url,
                r.status_code,
                r.response,
                r.duration_ms,
                job.trigger_type,
                at
            ])?;
        }
    }
    // Same guard as `complete`: only the lease holder moves the delivery.
    let moved = tx
        .prepare_cached(
            "UPDATE deliveries SET status = 1, next_attempt_at = ?3, lease_owner = NULL,
                 lease_until = NULL
             WHERE id = ?1 AND lease_owner = ?2 AND status = 3",
        )?
        .execute(params![job.delivery_id, node, until])?;
    Ok(moved == 1)
}

pub(crate) fn hold(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    until: i64,
    pace: &PaceRecord,
) -> Result<u64> {
    let n = tx
        .prepare_cached(
            "UPDATE deliveries SET next_attempt_at = ?2
             WHERE endpoint_id = ?1 AND status = 1 AND next_attempt_at < ?2",
        )?
        .execute(params![endpoint_id, until])?;
    save(tx, endpoint_id, pace)?;
    Ok(n as u64)
}

pub(crate) fn save(tx: &Transaction<'_>, endpoint_id: &str, p: &PaceRecord) -> Result<()> {
    tx.prepare_cached(
        "UPDATE endpoints SET pace_state = ?2, pace_until = ?3, pace_limit = ?4,
             pace_rate_cap = ?5, pace_recent_rate = ?6, pace_updated_at = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        endpoint_id,
        p.state,
        p.until,
        p.limit,
        p.rate_cap,
        p.recent_rate,
        p.updated_at
    ])?;
    Ok(())
}

/// The pace columns of an endpoint row, as stored (all NULL before a worker saved any).
type PaceRow = (
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
);

pub(crate) fn get(tx: &Transaction<'_>, account_id: i64, id: &str) -> Result<Option<PaceRecord>> {
    let ep = block_now(endpoints::get_app(&Lite(tx), account_id, id))??;
    let row: Option<PaceRow> = tx
        .query_row(
            "SELECT pace_state, pace_until, pace_limit, pace_rate_cap, pace_recent_rate,
                    pace_updated_at
             FROM endpoints WHERE id = ?1",
            [&ep.id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    Ok(match row {
        Some((Some(state), until, Some(limit), rate_cap, recent, Some(updated_at))) => {
            Some(PaceRecord {
                state,
                until,
                limit,
                rate_cap,
                recent_rate: recent.unwrap_or(0.0),
                updated_at,
            })
        }
        _ => None,
    })
}
