//! The delivery queue's hot path (SQLite): messages in, claims, and recording a batch.

use rusqlite::{params, OptionalExtension, Transaction};

use datahooks_domain::delivery::{signing_secrets, Trigger};
use datahooks_domain::events::endpoint_wants;

use super::db::Lite;
use super::{new_id, now, now_ms, on_conflict};
use crate::handoff::{endpoint_changes, hand_over, lease_to, wake_after_commit};
use crate::opwh::Kind;
use crate::shared::{
    self,
    endpoints::{list_of, map_of},
};
use crate::sql::block_now;
use crate::webhooks::{Completion, DeliveryJob, Message};
use crate::Result;

// ---- messages ------------------------------------------------------------------------

/// Inserts a message and a due delivery for each enabled endpoint of its `kind` that wants it
/// (or just `only_endpoint`): an operational event goes to the account's operational endpoints
/// only, an application message ([`Kind::App`]: the outbox's, the message API's and
/// `super::lifecycle`'s) to its application endpoints only.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_message_of(
    tx: &Transaction<'_>,
    kind: Kind,
    account_id: i64,
    id: &str,
    event_type: &str,
    event_id: Option<&str>,
    channels: &[String],
    payload: &str,
    only_endpoint: Option<&str>,
) -> Result<Message> {
    let (_, at) = now();
    let ms = now_ms();
    // The caller's trace context goes with the message, so an attempt claimed later, by any
    // node, joins the caller's trace.
    let traceparent = crate::handoff::traceparent();
    tx.prepare_cached(
        "INSERT INTO messages (id, account_id, event_type, event_id, channels, payload, created_at, created_ms, only_endpoint,
             traceparent, operational)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(
        params![id, account_id, event_type, event_id, serde_json::to_string(channels)?, payload, at, ms, only_endpoint,
            traceparent, kind.flag()],
    )
    .map_err(|e| on_conflict(e, || "A message with this eventId already exists.".to_owned()))?;
    let seq = tx.last_insert_rowid();
    // The endpoints that get it: every enabled one that wants it, or just `only_endpoint`.
    let mut stmt = tx.prepare_cached(
        "SELECT id, event_types, channels, disabled, url, secret, old_secrets, headers, throttle_rate
         FROM endpoints WHERE account_id = ?1 AND (id = ?2 OR (?2 IS NULL AND disabled = 0))
           AND operational = ?3
         ORDER BY rowid",
    )?;
    let mut found = stmt.query(params![account_id, only_endpoint, kind.flag()])?;
    let lease = lease_to(ms);
    let mut jobs = Vec::new();
    let mut queued_pending = false;
    while let Some(r) = found.next()? {
        let ep: String = r.get(0)?;
        if only_endpoint.is_none()
            && !endpoint_wants(
                list_of(r.get(1)?)?.as_deref(),
                list_of(r.get(2)?)?.as_deref(),
                event_type,
                channels,
            )
        {
            continue;
        }
        let disabled: bool = r.get(3)?;
        // Leased to this node's worker in this transaction when one is attached (a disabled
        // endpoint's deliveries wait in the queue instead).
        let lease = lease.as_ref().filter(|_| !disabled);
        tx.prepare_cached(
            "INSERT INTO deliveries (msg_id, endpoint_id, status, trigger_type, next_attempt_at,
                 created_ms, lease_owner, lease_until)
             VALUES (?1, ?2, ?3, 0, ?4, ?4, ?5, ?6)",
        )?
        .execute(params![
            id,
            ep,
            if lease.is_some() { 3 } else { 1 },
            ms,
            lease.map(|l| &l.0),
            lease.map(|l| l.1)
        ])?;
        match lease {
            Some(_) => {
                let old: Vec<(String, i64)> = serde_json::from_str(&r.get::<_, String>(6)?)?;
                jobs.push(DeliveryJob {
                    delivery_id: tx.last_insert_rowid(),
                    account_id,
                    msg_id: id.to_owned(),
                    endpoint_id: ep,
                    url: r.get(4)?,
                    secrets: signing_secrets(r.get::<_, String>(5)?, &old, ms),
                    headers: map_of(&r.get::<_, String>(7)?)?,
                    payload: payload.to_owned(),
                    attempts: 0,
                    trigger_type: Trigger::Scheduled.code(),
                    throttle_rate: r.get(8)?,
                    traceparent: traceparent.clone(),
                });
            }
            None => queued_pending = true,
        }
    }
    hand_over(jobs);
    if queued_pending {
        wake_after_commit();
    }
    Ok(Message {
        id: id.to_owned(),
        account_id,
        event_type: event_type.to_owned(),
        event_id: event_id.map(str::to_owned),
        channels: channels.to_vec(),
        payload: payload.to_owned(),
        created_at: at,
        seq,
        tags: Vec::new(),
    })
}

// ---- the queue -----------------------------------------------------------------------

/// The ids of claimable deliveries: two index walks (due pending rows; leases that ran out),
/// each stopping at the limit (one query with an OR would read and sort every due row
/// first). The due rows' walk passes over the endpoints at their limit (`?3`) inside the
/// index, which holds the endpoint (migration 0019), without reading the rows.
pub(crate) const CLAIMABLE: &str = "SELECT id FROM (
         SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 1 AND d.next_attempt_at <= ?1 AND e.disabled = 0
           AND d.endpoint_id NOT IN (SELECT value FROM json_each(?3))
         ORDER BY d.next_attempt_at LIMIT ?2)
     UNION ALL
     SELECT id FROM (
         SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 3 AND d.lease_until <= ?1 AND e.disabled = 0
         ORDER BY d.lease_until LIMIT ?2)
     LIMIT ?2";

pub(crate) fn claim_due(
    tx: &Transaction<'_>,
    node: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
    skip: &[String],
) -> Result<Vec<DeliveryJob>> {
    // Due pending rows, and leased rows whose lease ran out (their worker died). Deliveries of
    // disabled endpoints wait: they are kept, never dropped.
    let ids: Vec<i64> = {
        let mut stmt = tx.prepare_cached(CLAIMABLE)?;
        let skip = serde_json::to_string(skip)?;
        let rows = stmt.query_map(params![now, limit, skip], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    // One statement leases them all, one reads what the worker needs to send them.
    let ids = serde_json::to_string(&ids)?;
    tx.prepare_cached(
        "UPDATE deliveries SET status = 3, lease_owner = ?2, lease_until = ?3
         WHERE id IN (SELECT value FROM json_each(?1))",
    )?
    .execute(params![ids, node, lease_until])?;
    let mut load = tx.prepare_cached(
        "SELECT d.id, d.msg_id, d.endpoint_id, e.url, e.secret, e.old_secrets, e.headers, m.payload,
                d.attempts, d.trigger_type, e.throttle_rate, e.account_id, m.traceparent
         FROM json_each(?1) AS c
         JOIN deliveries d ON d.id = c.value
         JOIN endpoints e ON e.id = d.endpoint_id JOIN messages m ON m.id = d.msg_id
         ORDER BY c.key",
    )?;
    let mut found = load.query([ids])?;
    let mut jobs = Vec::new();
    while let Some(r) = found.next()? {
        let old: Vec<(String, i64)> = serde_json::from_str(&r.get::<_, String>(5)?)?;
        let trigger_type: i64 = r.get(9)?;
        Trigger::try_from(trigger_type)?;
        jobs.push(DeliveryJob {
            delivery_id: r.get(0)?,
            account_id: r.get(11)?,
            msg_id: r.get(1)?,
            endpoint_id: r.get(2)?,
            url: r.get(3)?,
            secrets: signing_secrets(r.get::<_, String>(4)?, &old, now),
            headers: map_of(&r.get::<_, String>(6)?)?,
            payload: r.get(7)?,
            attempts: r.get(8)?,
            trigger_type,
            throttle_rate: r.get(10)?,
            traceparent: r.get(12)?,
        });
    }
    Ok(jobs)
}

/// Records a batch of attempts: moves the deliveries this node still holds, logs every
/// attempt, and applies the endpoints' changes (folded over the attempts whose delivery
/// moved: a worker whose lease ran out speaks for neither). One cached statement per row:
/// in process there is no round trip to save, and a batch passed as JSON had SQLite parse
/// the JSON again for every field it read (a third of this function's time).
pub(crate) fn complete(tx: &Transaction<'_>, node: &str, done: &[Completion]) -> Result<()> {
    let mut attempt_ids = Vec::with_capacity(done.len());
    let mut moved = std::collections::HashSet::with_capacity(done.len());
    {
        let mut move_row = tx.prepare_cached(
            "UPDATE deliveries SET status = ?3, attempts = attempts + 1, next_attempt_at = ?4,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = ?2 AND lease_owner = ?1 AND status = 3",
        )?;
        let mut log_row = tx.prepare_cached(
            "INSERT INTO attempts (id, account_id, msg_id, endpoint_id, url, status, response_status_code,
                 response, duration_ms, trigger_type, timestamp)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for c in done {
            let next = c.next()?;
            let id = c.job.delivery_id;
            if move_row.execute(params![node, id, next.status.code(), next.next_attempt_at])? > 0 {
                moved.insert(id);
            }
            let attempt_id = new_id("atmpt");
            log_row.execute(params![
                attempt_id,
                c.job.account_id,
                c.job.msg_id,
                c.job.endpoint_id,
                c.job.url,
                c.attempt_status(),
                c.result.status_code,
                c.result.response,
                c.result.duration_ms,
                c.job.trigger_type,
                c.timestamp()?
            ])?;
            attempt_ids.push(attempt_id);
        }
    }
    let folded: Vec<_> = endpoint_changes(done, |c| moved.contains(&c.job.delivery_id))
        .into_iter()
        .filter(|(_, ch, _)| !ch.is_noop())
        .collect();
    // The endpoints this batch disables, as they were before (for `endpoint.disabled`).
    let disabling = block_now(shared::opwh::states_before(&Lite(tx), &folded))??;
    if !folded.is_empty() {
        let mut change = tx.prepare_cached(
            "UPDATE endpoints SET
                 first_failure_at = CASE WHEN ?2 THEN ?3 ELSE COALESCE(first_failure_at, ?3) END,
                 disabled = disabled OR ?4 IS NOT NULL,
                 disabled_reason = COALESCE(?4, disabled_reason)
             WHERE id = ?1",
        )?;
        for (ep, ch, _) in &folded {
            change.execute(params![ep, ch.reset, ch.start, ch.disable])?;
        }
    }
    let db = Lite(tx);
    block_now(shared::opwh::after_batch(
        &db,
        done,
        &moved,
        &attempt_ids,
        &folded,
        &disabling,
    ))?
}

/// Hands deliveries `node` leased back to the queue, due now.
pub(crate) fn release(tx: &Transaction<'_>, node: &str, ids: &[i64], now: i64) -> Result<i64> {
    let n = tx
        .prepare_cached(
            "UPDATE deliveries SET status = 1, lease_owner = NULL, lease_until = NULL,
                 next_attempt_at = MIN(next_attempt_at, ?3)
             WHERE status = 3 AND lease_owner = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )?
        .execute(params![node, serde_json::to_string(ids)?, now])?;
    if n > 0 {
        wake_after_commit();
    }
    Ok(n as i64)
}

pub(crate) fn disable_failing(tx: &Transaction<'_>, cutoff: i64) -> Result<i64> {
    let disabled: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "UPDATE endpoints SET disabled = 1, disabled_reason = 'failing'
             WHERE disabled = 0 AND first_failure_at IS NOT NULL AND first_failure_at < ?1
             RETURNING id",
        )?;
        let rows = stmt.query_map([cutoff], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in &disabled {
        block_now(shared::opwh::disabled_by_clock(&Lite(tx), id))??;
    }
    Ok(disabled.len() as i64)
}

pub(crate) fn release_leases(tx: &Transaction<'_>, node: &str, now: i64) -> Result<i64> {
    let n = tx.execute(
        "UPDATE deliveries SET status = 1, lease_owner = NULL, lease_until = NULL,
             next_attempt_at = MIN(next_attempt_at, ?2)
         WHERE status = 3 AND lease_owner = ?1",
        params![node, now],
    )?;
    if n > 0 {
        wake_after_commit();
    }
    Ok(n as i64)
}

// ---- shared state: throttling, idempotency keys, background tasks ----------------------

pub(crate) fn reserve_send_slot(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    rate: i64,
    now: i64,
) -> Result<i64> {
    let gap = 1000 / rate.max(1);
    let next: Option<i64> = tx
        .query_row(
            "SELECT throttle_next_ms FROM endpoints WHERE id = ?1",
            [endpoint_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let start = next.unwrap_or(now).max(now);
    tx.execute(
        "UPDATE endpoints SET throttle_next_ms = ?2 WHERE id = ?1",
        params![endpoint_id, start + gap],
    )?;
    Ok(start)
}
