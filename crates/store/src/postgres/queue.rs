//! The delivery queue's hot path (PostgreSQL): messages in, claims, and recording a batch.
//!
//! Several nodes share the queue. `claim_due` locks due rows with `FOR UPDATE SKIP LOCKED`
//! and leases them in the same statement, so two claimers never take the same row while its
//! lease is live; a lease that ran out makes the row claimable again. Only the lease holder
//! moves a delivery on (`complete`), exactly as with SQLite.

use datahooks_domain::delivery::{signing_secrets, EndpointChange, Trigger};
use deadpool_postgres::GenericClient;

use super::db::Pg;
use super::{exec, new_id, opt, rows};
use super::{wake_workers, Tx};
use crate::handoff::endpoint_changes;
use crate::opwh::Kind;
use crate::shared::{self, endpoints::map_of};
use crate::webhooks::{Completion, DeliveryJob, Message};
use crate::Result;

// ---- messages ------------------------------------------------------------------------

/// Inserts a message and a due delivery for each enabled endpoint of its `kind` that wants it
/// (or just `only_endpoint`): an operational event goes to the account's operational endpoints
/// only, an application message ([`Kind::App`]: the outbox's and the message API's) to its
/// application endpoints only. It is `super::ingest::insert_many` with one message.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_message_of(
    tx: &Tx<'_>,
    kind: Kind,
    account_id: i64,
    id: &str,
    event_type: &str,
    event_id: Option<&str>,
    channels: &[String],
    payload: &str,
    only_endpoint: Option<&str>,
) -> Result<Message> {
    let traceparent = crate::handoff::traceparent();
    let one = super::ingest::Incoming {
        account_id,
        id,
        event_type,
        event_id,
        channels,
        payload,
        only_endpoint,
        tags: &[],
        payload_expire_ms: None,
        traceparent: traceparent.as_deref(),
    };
    super::ingest::insert_many(tx, kind, std::slice::from_ref(&one))
        .await?
        .pop()
        .unwrap_or_else(|| {
            Err(crate::Error::Other(
                "a message insert returned nothing".into(),
            ))
        })
}

// ---- the queue -----------------------------------------------------------------------

pub(crate) async fn claim_due(
    tx: &impl GenericClient,
    node: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
    skip: &[String],
) -> Result<Vec<DeliveryJob>> {
    // Due pending rows, and leased rows whose lease ran out (their worker died). Deliveries of
    // disabled endpoints wait: they are kept, never dropped. SKIP LOCKED passes over rows that
    // another node is claiming or completing right now; a row another node claimed and
    // committed meanwhile is re-checked after locking and no longer matches, so no row is
    // leased twice while its lease is live.
    //
    // The two kinds are picked in two CTEs, each walking its own partial index in order and
    // stopping after `limit` rows, rather than one OR that would sort every due row on each
    // claim; the oldest `limit` of both are leased. (Rows locked but not picked are free again
    // at commit, a moment later.)
    let stmt = tx
        .prepare_cached(
        "WITH pending AS (
             SELECT d.id, d.next_attempt_at FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 1 AND d.next_attempt_at <= $1 AND NOT e.disabled
               AND NOT (d.endpoint_id = ANY($5))
             ORDER BY d.next_attempt_at
             LIMIT $2
             FOR UPDATE OF d SKIP LOCKED
         ), expired AS (
             SELECT d.id, d.next_attempt_at FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 3 AND d.lease_until <= $1 AND NOT e.disabled
             ORDER BY d.lease_until
             LIMIT $2
             FOR UPDATE OF d SKIP LOCKED
         ), due AS (
             SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) both_kinds
             ORDER BY next_attempt_at, id
             LIMIT $2
         )
         UPDATE deliveries d SET status = 3, lease_owner = $3, lease_until = $4
         FROM due, endpoints e, messages m
         WHERE d.id = due.id AND e.id = d.endpoint_id AND m.id = d.msg_id
         RETURNING d.id, d.msg_id, d.endpoint_id, e.url, e.secret, e.old_secrets, e.headers,
                   m.payload, d.attempts, d.trigger_type, e.throttle_rate, d.next_attempt_at,
                   e.account_id, m.traceparent",
        )
        .await?;
    let found = tx
        .query(&stmt, &[&now, &limit, &node, &lease_until, &skip])
        .await?;
    let mut jobs = Vec::with_capacity(found.len());
    for r in &found {
        let old: String = r.try_get(5)?;
        let headers: String = r.try_get(6)?;
        let old: Vec<(String, i64)> = serde_json::from_str(&old)?;
        let secrets = signing_secrets(r.try_get::<_, String>(4)?, &old, now);
        let due: i64 = r.try_get(11)?;
        let trigger_type: i64 = r.try_get(9)?;
        Trigger::try_from(trigger_type)?;
        jobs.push((
            due,
            DeliveryJob {
                delivery_id: r.try_get(0)?,
                account_id: r.try_get(12)?,
                msg_id: r.try_get(1)?,
                endpoint_id: r.try_get(2)?,
                url: r.try_get(3)?,
                secrets,
                headers: map_of(&headers)?,
                payload: r.try_get(7)?,
                attempts: r.try_get(8)?,
                trigger_type,
                throttle_rate: r.try_get(10)?,
                traceparent: r.try_get(13)?,
            },
        ));
    }
    // RETURNING follows no ORDER BY: hand the jobs out oldest-due first, as SQLite does.
    jobs.sort_by_key(|(due, job)| (*due, job.delivery_id));
    Ok(jobs.into_iter().map(|(_, job)| job).collect())
}

/// Records a batch of attempts in one statement (one round trip, its own transaction): it
/// moves the deliveries this node still holds, logs every attempt, and applies to each
/// endpoint the change `datahooks_domain::delivery` folded over the batch, when every one of
/// the batch's deliveries to that endpoint moved. If some did not (a worker whose lease ran
/// out speaks for neither delivery nor endpoint), a second statement applies the change folded
/// over those that did.
/// Records a batch; returns the deliveries that moved (their worker still held the lease) and
/// the attempt ids, in the batch's order.
pub(crate) async fn complete(
    client: &impl GenericClient,
    node: &str,
    done: &[Completion],
) -> Result<(std::collections::HashSet<i64>, Vec<String>)> {
    let n = done.len();
    let (mut ids, mut statuses, mut nexts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut att_ids, mut accounts, mut msgs, mut eps, mut urls) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut att_status, mut codes, mut responses, mut durations, mut triggers, mut stamps) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for c in done {
        let next = c.next()?;
        ids.push(c.job.delivery_id);
        statuses.push(next.status.code());
        nexts.push(next.next_attempt_at);
        att_ids.push(new_id("atmpt"));
        accounts.push(c.job.account_id);
        msgs.push(c.job.msg_id.as_str());
        eps.push(c.job.endpoint_id.as_str());
        urls.push(c.job.url.as_str());
        att_status.push(c.attempt_status());
        codes.push(c.result.status_code);
        responses.push(c.result.response.as_str());
        durations.push(c.result.duration_ms);
        triggers.push(c.job.trigger_type);
        stamps.push(c.timestamp()?);
    }
    let changes = endpoint_changes(done, |_| true);
    let (ch_eps, ch_reset, ch_start, ch_disable, ch_rows) = change_columns(&changes);
    // The batch's rows are found by primary key (`d.id = ANY($2)`). `d.status + 0` keeps the
    // planner off the partial index `deliveries_leased`: during a burst every queued delivery
    // is leased, the statistics still say few are, and a bitmap scan of all leased rows per
    // batch made recording quadratic (fan-out ×10 fell to ~2,000 deliveries/s on PostgreSQL).
    let stmt = client
        .prepare_cached(
            "WITH moved AS (
                 UPDATE deliveries d SET status = v.status, attempts = d.attempts + 1,
                     next_attempt_at = v.next, lease_owner = NULL, lease_until = NULL
                 FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS v(id, status, next)
                 WHERE d.id = v.id AND d.id = ANY($2) AND d.lease_owner = $1
                   AND d.status + 0 = 3
                 RETURNING d.id, d.endpoint_id
             ), logged AS (
                 INSERT INTO attempts (id, account_id, msg_id, endpoint_id, url, status,
                     response_status_code, response, duration_ms, trigger_type, timestamp)
                 SELECT id, account_id, msg_id, endpoint_id, url, status, code, response,
                        duration_ms, trigger_type, ts
                 FROM unnest($5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[],
                     $10::bigint[], $11::bigint[], $12::text[], $13::bigint[], $14::bigint[],
                     $15::text[]) WITH ORDINALITY AS a(id, account_id, msg_id, endpoint_id, url,
                     status, code, response, duration_ms, trigger_type, ts, n)
                 ORDER BY n
             ), whole AS (
                 SELECT c.* FROM unnest($16::text[], $17::bool[], $18::bigint[], $19::text[],
                     $20::bigint[]) AS c(id, reset, start, disable, n)
                 WHERE c.n = (SELECT count(*) FROM moved m WHERE m.endpoint_id = c.id)
             ), changed AS (
                 UPDATE endpoints e SET
                     first_failure_at = CASE WHEN w.reset THEN w.start
                                             ELSE COALESCE(e.first_failure_at, w.start) END,
                     disabled = e.disabled OR w.disable IS NOT NULL,
                     disabled_reason = COALESCE(w.disable, e.disabled_reason)
                 FROM whole w
                 WHERE e.id = w.id AND (w.disable IS NOT NULL OR e.first_failure_at IS DISTINCT FROM
                     (CASE WHEN w.reset THEN w.start ELSE COALESCE(e.first_failure_at, w.start) END))
                 RETURNING e.id
             )
             SELECT id FROM moved",
        )
        .await?;
    let moved: std::collections::HashSet<i64> = client
        .query(
            &stmt,
            &[
                &node,
                &ids,
                &statuses,
                &nexts,
                &att_ids,
                &accounts,
                &msgs,
                &eps,
                &urls,
                &att_status,
                &codes,
                &responses,
                &durations,
                &triggers,
                &stamps,
                &ch_eps,
                &ch_reset,
                &ch_start,
                &ch_disable,
                &ch_rows,
            ],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    if moved.len() < n {
        // Some deliveries were taken over by another node: their endpoints' changes were left
        // out above; apply the change folded over the attempts that did move.
        let partial: Vec<_> = endpoint_changes(done, |c| moved.contains(&c.job.delivery_id))
            .into_iter()
            .filter(|(ep, ch, _)| {
                !ch.is_noop()
                    && done
                        .iter()
                        .any(|c| c.job.endpoint_id == *ep && !moved.contains(&c.job.delivery_id))
            })
            .collect();
        if !partial.is_empty() {
            let (ch_eps, ch_reset, ch_start, ch_disable, _) = change_columns(&partial);
            let stmt = client
                .prepare_cached(
                    "UPDATE endpoints e SET
                         first_failure_at = CASE WHEN c.reset THEN c.start
                                                 ELSE COALESCE(e.first_failure_at, c.start) END,
                         disabled = e.disabled OR c.disable IS NOT NULL,
                         disabled_reason = COALESCE(c.disable, e.disabled_reason)
                     FROM unnest($1::text[], $2::bool[], $3::bigint[], $4::text[])
                          AS c(id, reset, start, disable)
                     WHERE e.id = c.id",
                )
                .await?;
            client
                .execute(&stmt, &[&ch_eps, &ch_reset, &ch_start, &ch_disable])
                .await?;
        }
    }
    Ok((moved, att_ids))
}

type ChangeColumns<'a> = (
    Vec<&'a str>,
    Vec<bool>,
    Vec<Option<i64>>,
    Vec<Option<&'a str>>,
    Vec<i64>,
);

/// Endpoint changes as the columns of an `unnest`.
fn change_columns(changes: &[(String, EndpointChange, i64)]) -> ChangeColumns<'_> {
    let mut out: ChangeColumns<'_> = Default::default();
    for (ep, ch, n) in changes {
        out.0.push(ep.as_str());
        out.1.push(ch.reset);
        out.2.push(ch.start);
        out.3.push(ch.disable.as_deref());
        out.4.push(*n);
    }
    out
}

/// Hands deliveries `node` leased back to the queue, due now, and wakes every node.
pub(crate) async fn release(tx: &Tx<'_>, node: &str, ids: &[i64], now: i64) -> Result<i64> {
    let n = exec(
        tx,
        "UPDATE deliveries SET status = 1, lease_owner = NULL, lease_until = NULL,
             next_attempt_at = LEAST(next_attempt_at, $3)
         WHERE status = 3 AND lease_owner = $1 AND id = ANY($2)",
        &[&node, &ids, &now],
    )
    .await?;
    if n > 0 {
        wake_workers(tx).await?;
    }
    Ok(n as i64)
}

pub(crate) async fn disable_failing(tx: &Tx<'_>, cutoff: i64) -> Result<i64> {
    let disabled = rows(
        tx,
        "UPDATE endpoints SET disabled = TRUE, disabled_reason = 'failing'
         WHERE NOT disabled AND first_failure_at IS NOT NULL AND first_failure_at < $1
         RETURNING id",
        &[&cutoff],
    )
    .await?;
    for row in &disabled {
        let id: String = row.try_get(0)?;
        shared::opwh::disabled_by_clock(&Pg(tx), &id).await?;
    }
    Ok(disabled.len() as i64)
}

/// Hands back the leases `node` holds (it restarted: they are not being worked on), due now.
pub(crate) async fn release_leases(tx: &Tx<'_>, node: &str, now: i64) -> Result<i64> {
    let n = exec(
        tx,
        "UPDATE deliveries SET status = 1, lease_owner = NULL, lease_until = NULL,
             next_attempt_at = LEAST(next_attempt_at, $2)
         WHERE status = 3 AND lease_owner = $1",
        &[&node, &now],
    )
    .await?;
    if n > 0 {
        // Any node's workers may take them.
        wake_workers(tx).await?;
    }
    Ok(n as i64)
}

// ---- shared state: throttling, idempotency keys, background tasks ----------------------

/// Reserves the next send slot of an endpoint limited to `rate` per second: when this send
/// may start. One statement, so the endpoint's row lock orders nodes asking at once.
pub(crate) async fn reserve_send_slot(
    tx: &Tx<'_>,
    endpoint_id: &str,
    rate: i64,
    now: i64,
) -> Result<i64> {
    let gap = 1000 / rate.max(1);
    let start = opt(
        tx,
        "UPDATE endpoints SET throttle_next_ms = GREATEST(COALESCE(throttle_next_ms, $3), $3) + $2
         WHERE id = $1
         RETURNING throttle_next_ms - $2",
        &[&endpoint_id, &gap, &now],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    // An unknown endpoint has no limit to keep: it may start now.
    Ok(start.unwrap_or(now))
}
