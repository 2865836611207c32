//! Endpoints, messages, the delivery queue and the attempt log (SQLite).

use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};
use serde_json::Value;

use datahooks_domain::delivery::{signing_secrets, Trigger};
use datahooks_domain::events::endpoint_wants;

use super::db::Lite;
use super::{new_id, now, now_ms, on_conflict};
use crate::handoff::{endpoint_changes, hand_over, lease_to, wake_after_commit};
use crate::opwh::Kind;
use crate::shared::{
    self,
    endpoints::{self, list_of, map_of},
};
use crate::sql::block_now;
use crate::webhooks::{
    Attempt, Completion, DeliveryJob, DeliveryStatus, DeliveryView, Idempotent, ListFilter, Message,
};
use crate::{Error, Result};

// ---- messages ------------------------------------------------------------------------

/// Inserts a message and a due delivery for each enabled endpoint that wants it (or just
/// `only_endpoint`). Shared by the outbox and the message API.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_message(
    tx: &Transaction<'_>,
    account_id: i64,
    id: &str,
    event_type: &str,
    event_id: Option<&str>,
    channels: &[String],
    payload: &str,
    only_endpoint: Option<&str>,
) -> Result<Message> {
    insert_message_of(
        tx,
        Kind::App,
        account_id,
        id,
        event_type,
        event_id,
        channels,
        payload,
        only_endpoint,
    )
}

/// [`insert_message`] for one kind of endpoint: an operational event goes to the account's
/// operational endpoints only, and an application message to its application endpoints only.
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
    tx.execute(
        "INSERT INTO messages (id, account_id, event_type, event_id, channels, payload, created_at, created_ms, only_endpoint,
             traceparent, operational)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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

fn queue_delivery(
    tx: &Transaction<'_>,
    msg_id: &str,
    endpoint_id: &str,
    trigger: i64,
    due: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO deliveries (msg_id, endpoint_id, status, trigger_type, next_attempt_at, created_ms)
         VALUES (?1, ?2, 1, ?3, ?4, ?4)",
    )?
    .execute(params![msg_id, endpoint_id, trigger, due])?;
    wake_after_commit();
    Ok(())
}

const MSG_COLS: &str =
    "m.id, m.account_id, m.event_type, m.event_id, m.channels, m.payload, m.created_at, m.seq, m.tags";

type MsgRow = (Message, String, String);

fn msg_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MsgRow> {
    Ok((
        Message {
            id: r.get(0)?,
            account_id: r.get(1)?,
            event_type: r.get(2)?,
            event_id: r.get(3)?,
            channels: Vec::new(),
            payload: r.get(5)?,
            created_at: r.get(6)?,
            seq: r.get(7)?,
            tags: Vec::new(),
        },
        r.get(4)?,
        r.get(8)?,
    ))
}

fn msg_finish((mut m, channels, tags): MsgRow) -> Result<Message> {
    m.channels = serde_json::from_str(&channels)?;
    m.tags = serde_json::from_str(&tags)?;
    Ok(m)
}

pub(crate) fn message(tx: &Transaction<'_>, account_id: i64, id: &str) -> Result<Message> {
    let row = tx
        .query_row(
            &format!("SELECT {MSG_COLS} FROM messages m WHERE m.account_id = ?1 AND (m.id = ?2 OR m.event_id = ?2)"),
            params![account_id, id],
            msg_row,
        )
        .optional()?
        .ok_or_else(Error::not_found)?;
    msg_finish(row)
}

fn cursor(it: &Option<String>) -> Option<i64> {
    it.as_deref().and_then(|s| s.parse::<i64>().ok())
}

pub(crate) fn list_messages(
    tx: &Transaction<'_>,
    account_id: i64,
    f: &ListFilter,
) -> Result<Vec<Message>> {
    let mut sql =
        format!("SELECT {MSG_COLS} FROM messages m WHERE m.account_id = ?1 AND m.operational = 0");
    let mut args: Vec<rusqlite::types::Value> = vec![account_id.into()];
    if let Some(c) = cursor(&f.iterator) {
        args.push(c.into());
        sql += &format!(" AND m.seq < ?{}", args.len());
    }
    if !f.event_types.is_empty() {
        let mut marks = Vec::new();
        for t in &f.event_types {
            args.push(t.clone().into());
            marks.push(format!("?{}", args.len()));
        }
        sql += &format!(" AND m.event_type IN ({})", marks.join(","));
    }
    if let Some(ch) = &f.channel {
        args.push(ch.clone().into());
        sql += &format!(
            " AND EXISTS (SELECT 1 FROM json_each(m.channels) c WHERE c.value = ?{})",
            args.len()
        );
    }
    if let Some(t) = &f.tag {
        args.push(t.clone().into());
        sql += &format!(
            " AND EXISTS (SELECT 1 FROM json_each(m.tags) t WHERE t.value = ?{})",
            args.len()
        );
    }
    if let Some(b) = f.before {
        args.push(b.into());
        sql += &format!(" AND m.created_ms < ?{}", args.len());
    }
    if let Some(a) = f.after {
        args.push(a.into());
        sql += &format!(" AND m.created_ms > ?{}", args.len());
    }
    if let Some(ep) = &f.endpoint_id {
        args.push(ep.clone().into());
        let e = args.len();
        match f.status {
            Some(st) => {
                args.push(st.into());
                sql += &format!(
                    " AND (SELECT d.status FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ?{e} ORDER BY d.id DESC LIMIT 1) = ?{}",
                    args.len()
                );
            }
            None => sql += &format!(" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ?{e})"),
        }
    } else if let Some(st) = f.status {
        args.push(st.into());
        sql += &format!(
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status = ?{}
                 AND d.id = (SELECT MAX(d2.id) FROM deliveries d2
                             WHERE d2.msg_id = d.msg_id AND d2.endpoint_id = d.endpoint_id))",
            args.len()
        );
    }
    args.push(f.limit.into());
    sql += &format!(" ORDER BY m.seq DESC LIMIT ?{}", args.len());
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), msg_row)?;
    rows.map(|r| msg_finish(r?)).collect()
}

pub(crate) fn deliveries_of(
    tx: &Transaction<'_>,
    account_id: i64,
    msg_id: &str,
) -> Result<Vec<DeliveryView>> {
    let m = message(tx, account_id, msg_id)?;
    // The latest delivery row per endpoint tells the message's state there.
    let mut stmt = tx.prepare(
        "SELECT endpoint_id, status, next_attempt_at FROM deliveries WHERE msg_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([&m.id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out: Vec<DeliveryView> = Vec::new();
    for row in rows {
        let (endpoint_id, status, next) = row?;
        let status = DeliveryStatus::try_from(status)?;
        let view = DeliveryView {
            endpoint_id: endpoint_id.clone(),
            msg_id: m.id.clone(),
            status,
            next_attempt: (status == DeliveryStatus::Pending).then_some(next),
        };
        match out.iter_mut().find(|v| v.endpoint_id == endpoint_id) {
            Some(v) => *v = view,
            None => out.push(view),
        }
    }
    Ok(out)
}

const ATT_COLS: &str = "id, msg_id, endpoint_id, url, status, response_status_code, response, duration_ms, trigger_type, timestamp";

fn att_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        id: r.get(0)?,
        msg_id: r.get(1)?,
        endpoint_id: r.get(2)?,
        url: r.get(3)?,
        status: r.get(4)?,
        response_status_code: r.get(5)?,
        response: r.get(6)?,
        duration_ms: r.get(7)?,
        trigger_type: r.get(8)?,
        timestamp: r.get(9)?,
    })
}

pub(crate) fn list_attempts(
    tx: &Transaction<'_>,
    account_id: i64,
    msg_id: Option<&str>,
    f: &ListFilter,
) -> Result<Vec<Attempt>> {
    let mut sql = format!("SELECT {ATT_COLS} FROM attempts WHERE account_id = ?1");
    let mut args: Vec<rusqlite::types::Value> = vec![account_id.into()];
    if let Some(m) = msg_id {
        let m = message(tx, account_id, m)?;
        args.push(m.id.into());
        sql += &format!(" AND msg_id = ?{}", args.len());
    }
    if let Some(ep) = &f.endpoint_id {
        args.push(ep.clone().into());
        sql += &format!(" AND endpoint_id = ?{}", args.len());
    }
    if let Some(st) = f.status {
        args.push(st.into());
        sql += &format!(" AND status = ?{}", args.len());
    }
    if let Some(t) = &f.tag {
        args.push(t.clone().into());
        sql += &format!(
            " AND msg_id IN (SELECT m.id FROM messages m, json_each(m.tags) t
                             WHERE m.account_id = ?1 AND t.value = ?{})",
            args.len()
        );
    }
    if let Some(c) = cursor(&f.iterator) {
        args.push(c.into());
        sql += &format!(" AND seq < ?{}", args.len());
    }
    args.push(f.limit.into());
    sql += &format!(" ORDER BY seq DESC LIMIT ?{}", args.len());
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), att_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The attempt seq, for cursors.
pub(crate) fn attempt_seq(tx: &Transaction<'_>, id: &str) -> Result<i64> {
    Ok(tx.query_row("SELECT seq FROM attempts WHERE id = ?1", [id], |r| r.get(0))?)
}

pub(crate) fn get_attempt(
    tx: &Transaction<'_>,
    account_id: i64,
    msg_id: &str,
    attempt_id: &str,
) -> Result<Attempt> {
    let m = message(tx, account_id, msg_id)?;
    tx.query_row(
        &format!(
            "SELECT {ATT_COLS} FROM attempts WHERE account_id = ?1 AND msg_id = ?2 AND id = ?3"
        ),
        params![account_id, m.id, attempt_id],
        att_row,
    )
    .optional()?
    .ok_or_else(Error::not_found)
}

pub(crate) fn resend(
    tx: &Transaction<'_>,
    account_id: i64,
    msg_id: &str,
    endpoint_id: &str,
) -> Result<()> {
    let m = message(tx, account_id, msg_id)?;
    let ep = block_now(endpoints::get_app(&Lite(tx), account_id, endpoint_id))??;
    if tx.query_row(crate::lifecycle::IS_EXPUNGED, [&m.id], |r| {
        r.get::<_, bool>(0)
    })? {
        return Err(crate::lifecycle::expunged_refusal());
    }
    queue_delivery(tx, &m.id, &ep.id, 1, now_ms())
}

pub(crate) fn recover(
    tx: &Transaction<'_>,
    account_id: i64,
    endpoint_id: &str,
    since: i64,
    until: i64,
) -> Result<i64> {
    let ep = block_now(endpoints::get_app(&Lite(tx), account_id, endpoint_id))??;
    let ids: Vec<String> = {
        // Failed or canceled there, never delivered, nothing queued (`delivery::recoverable`).
        let recoverable = crate::lifecycle::recoverable_list();
        let mut stmt = tx.prepare(&format!(
            "SELECT m.id FROM messages m
             WHERE m.account_id = ?1 AND m.created_ms >= ?3 AND m.created_ms < ?4 AND m.expunged_ms IS NULL
               AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ?2 AND d.status IN ({recoverable}))
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ?2 AND d.status IN (0, 1, 3))
             ORDER BY m.seq LIMIT 10000"
        ))?;
        let rows = stmt.query_map(params![account_id, ep.id, since, until], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let now = now_ms();
    for id in &ids {
        queue_delivery(tx, id, &ep.id, 1, now)?;
    }
    Ok(ids.len() as i64)
}

pub(crate) fn replay_missing(
    tx: &Transaction<'_>,
    account_id: i64,
    endpoint_id: &str,
    since: i64,
    until: i64,
) -> Result<i64> {
    let ep = block_now(endpoints::get_app(&Lite(tx), account_id, endpoint_id))??;
    // Messages never queued for this endpoint that it would have wanted when they were sent:
    // its event types and channels apply, and messages meant for one other endpoint only
    // (send-example) are not someone else's to replay.
    let candidates: Vec<(String, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT m.id, m.event_type, m.channels FROM messages m
             WHERE m.account_id = ?1 AND m.created_ms >= ?3 AND m.created_ms < ?4 AND m.expunged_ms IS NULL
               AND (m.only_endpoint IS NULL OR m.only_endpoint = ?2) AND m.operational = 0
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ?2)
             ORDER BY m.seq LIMIT 10000",
        )?;
        let rows = stmt.query_map(params![account_id, ep.id, since, until], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let now = now_ms();
    let mut n = 0;
    for (id, event_type, channels) in candidates {
        let channels: Vec<String> = serde_json::from_str(&channels)?;
        if endpoint_wants(
            ep.event_types.as_deref(),
            ep.channels.as_deref(),
            &event_type,
            &channels,
        ) {
            queue_delivery(tx, &id, &ep.id, 1, now)?;
            n += 1;
        }
    }
    Ok(n)
}

// ---- the queue -----------------------------------------------------------------------

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
        let mut stmt = tx.prepare_cached(
            // Two index walks (due pending rows; leases that ran out), each stopping at the
            // limit: one query with an OR would read and sort every due row first.
            "SELECT id FROM (
                 SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                 WHERE d.status = 1 AND d.next_attempt_at <= ?1 AND e.disabled = 0
                   AND d.endpoint_id NOT IN (SELECT value FROM json_each(?3))
                 ORDER BY d.next_attempt_at LIMIT ?2)
             UNION ALL
             SELECT id FROM (
                 SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                 WHERE d.status = 3 AND d.lease_until <= ?1 AND e.disabled = 0
                 ORDER BY d.lease_until LIMIT ?2)
             LIMIT ?2",
        )?;
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

/// Records a batch of attempts: one statement moves the deliveries this node still holds,
/// one logs every attempt, one applies the endpoints' changes (folded over the attempts
/// whose delivery moved: a worker whose lease ran out speaks for neither).
pub(crate) fn complete(tx: &Transaction<'_>, node: &str, done: &[Completion]) -> Result<()> {
    let mut moves = Vec::with_capacity(done.len());
    let mut log = Vec::with_capacity(done.len());
    let mut attempt_ids = Vec::with_capacity(done.len());
    for c in done {
        let next = c.next()?;
        moves.push(serde_json::json!([
            c.job.delivery_id,
            next.status.code(),
            next.next_attempt_at
        ]));
        attempt_ids.push(new_id("atmpt"));
        log.push(serde_json::json!([
            attempt_ids[attempt_ids.len() - 1],
            c.job.account_id,
            c.job.msg_id,
            c.job.endpoint_id,
            c.job.url,
            c.attempt_status(),
            c.result.status_code,
            c.result.response,
            c.result.duration_ms,
            c.job.trigger_type,
            c.timestamp()
        ]));
    }
    let moved: std::collections::HashSet<i64> = {
        let mut stmt = tx.prepare_cached(
            "UPDATE deliveries AS d SET status = v.value ->> 1, attempts = d.attempts + 1,
                 next_attempt_at = v.value ->> 2, lease_owner = NULL, lease_until = NULL
             FROM json_each(?2) AS v
             WHERE d.id = v.value ->> 0 AND d.lease_owner = ?1 AND d.status = 3
             RETURNING id",
        )?;
        let rows = stmt.query_map(params![node, Value::Array(moves).to_string()], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    tx.prepare_cached(
        "INSERT INTO attempts (id, account_id, msg_id, endpoint_id, url, status, response_status_code,
             response, duration_ms, trigger_type, timestamp)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,
                value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10
         FROM json_each(?1) ORDER BY key",
    )?
    .execute([Value::Array(log).to_string()])?;
    let folded: Vec<_> = endpoint_changes(done, |c| moved.contains(&c.job.delivery_id))
        .into_iter()
        .filter(|(_, ch, _)| !ch.is_noop())
        .collect();
    // The endpoints this batch disables, as they were before (for `endpoint.disabled`).
    let disabling = block_now(shared::opwh::states_before(&Lite(tx), &folded))??;
    let changes: Vec<Value> = folded
        .iter()
        .map(|(ep, ch, _)| serde_json::json!([ep, ch.reset, ch.start, ch.disable]))
        .collect();
    if !changes.is_empty() {
        tx.prepare_cached(
            "UPDATE endpoints AS e SET
                 first_failure_at = CASE WHEN c.value ->> 1 THEN c.value ->> 2
                                         ELSE COALESCE(e.first_failure_at, c.value ->> 2) END,
                 disabled = e.disabled OR (c.value ->> 3) IS NOT NULL,
                 disabled_reason = COALESCE(c.value ->> 3, e.disabled_reason)
             FROM json_each(?1) AS c
             WHERE e.id = c.value ->> 0",
        )?
        .execute([Value::Array(changes).to_string()])?;
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

pub(crate) fn next_due(tx: &Transaction<'_>, skip: &[String]) -> Result<Option<i64>> {
    Ok(tx.query_row(
        "SELECT MIN(t) FROM (
             SELECT MIN(d.next_attempt_at) AS t FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
               WHERE d.status = 1 AND e.disabled = 0
                 AND d.endpoint_id NOT IN (SELECT value FROM json_each(?1))
             UNION ALL
             SELECT MIN(d.lease_until) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
               WHERE d.status = 3 AND e.disabled = 0)",
        [serde_json::to_string(skip)?],
        |r| r.get(0),
    )?)
}

pub(crate) fn depth(tx: &Transaction<'_>) -> Result<(i64, Option<i64>)> {
    Ok(tx.query_row(
        "SELECT COUNT(*), MIN(next_attempt_at) FROM deliveries WHERE status IN (1, 3)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
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

/// How long a request may hold an idempotency key before another may take it over.
const IDEMPOTENCY_LOCK_MS: i64 = 30_000;

pub(crate) fn idempotency_begin(
    tx: &Transaction<'_>,
    key: &str,
    now: i64,
    expired_before: i64,
) -> Result<Idempotent> {
    tx.execute(
        "DELETE FROM idempotency WHERE created_ms < ?1",
        [expired_before],
    )?;
    // A claim whose request died (status still 0 long after) is released.
    tx.execute(
        "DELETE FROM idempotency WHERE key = ?1 AND status = 0 AND created_ms < ?2",
        params![key, now - IDEMPOTENCY_LOCK_MS],
    )?;
    let found: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT status, body FROM idempotency WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match found {
        Some((0, _)) => Idempotent::InFlight,
        Some((status, body)) => Idempotent::Done(u16::try_from(status).unwrap_or(200), body),
        None => {
            tx.execute(
                "INSERT INTO idempotency (key, status, body, created_ms) VALUES (?1, 0, x'', ?2)",
                params![key, now],
            )?;
            Idempotent::Run
        }
    })
}

pub(crate) fn idempotency_finish(
    tx: &Transaction<'_>,
    key: &str,
    response: Option<(u16, Vec<u8>)>,
) -> Result<()> {
    match response {
        Some((status, body)) => {
            tx.execute(
                "UPDATE idempotency SET status = ?2, body = ?3 WHERE key = ?1",
                params![key, i64::from(status), body],
            )?;
        }
        None => {
            tx.execute(
                "DELETE FROM idempotency WHERE key = ?1 AND status = 0",
                [key],
            )?;
        }
    }
    Ok(())
}

pub(crate) fn put_task(
    tx: &Transaction<'_>,
    id: &str,
    account_id: i64,
    record: &str,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO tasks (id, account_id, record, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_ms = excluded.updated_ms",
        params![id, account_id, record, now],
    )?;
    if let Some(ev) = crate::opwh::task_event(record) {
        block_now(shared::opwh::emit(&Lite(tx), account_id, &ev))??;
    }
    Ok(())
}

pub(crate) fn get_task(tx: &Transaction<'_>, id: &str) -> Result<Option<(i64, String)>> {
    Ok(tx
        .query_row(
            "SELECT account_id, record FROM tasks WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

pub(crate) fn list_tasks(tx: &Transaction<'_>, accounts: &[i64]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stmt = tx.prepare(
        "SELECT record FROM tasks WHERE account_id = ?1 ORDER BY updated_ms DESC LIMIT 100",
    )?;
    for a in accounts {
        for row in stmt.query_map([a], |r| r.get::<_, String>(0))? {
            out.push(row?);
        }
    }
    Ok(out)
}
