//! Endpoints, messages, the delivery queue and the attempt log (PostgreSQL).
//!
//! Several nodes share the queue. `claim_due` locks due rows with `FOR UPDATE SKIP LOCKED`
//! and leases them in the same statement, so two claimers never take the same row while its
//! lease is live; a lease that ran out makes the row claimable again. Only the lease holder
//! moves a delivery on (`complete`), exactly as with SQLite.

use tokio_postgres::Row;

use datahooks_domain::delivery::{signing_secrets, EndpointChange, Trigger};
use datahooks_domain::events::endpoint_wants;
use deadpool_postgres::GenericClient;

use super::db::Pg;
use super::{exec, new_id, now_ms, one, opt, rows, rows_dyn};
use super::{wake_workers, Args, Tx};
use crate::handoff::endpoint_changes;
use crate::opwh::Kind;
use crate::shared::{
    self,
    endpoints::{self, map_of},
};
use crate::webhooks::{
    Attempt, Completion, DeliveryJob, DeliveryStatus, DeliveryView, Idempotent, ListFilter, Message,
};
use crate::Result;

// ---- messages ------------------------------------------------------------------------

/// Inserts a message and a due delivery for each enabled endpoint that wants it (or just
/// `only_endpoint`). Shared by the outbox and the message API.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_message(
    tx: &Tx<'_>,
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
    .await
}

/// [`insert_message`] for one kind of endpoint: an operational event goes to the account's
/// operational endpoints only, and an application message to its application endpoints only
/// (`super::ingest::insert_many` with one message).
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

/// Queues one delivery of a message per endpoint, due at `due`, in one statement, and wakes
/// the workers of every node when the transaction commits.
async fn queue_deliveries(
    tx: &Tx<'_>,
    msg_id: &str,
    endpoint_ids: &[String],
    trigger: i64,
    due: i64,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO deliveries (msg_id, endpoint_id, status, trigger_type, next_attempt_at, created_ms)
         SELECT $1, ep, 1, $3, $4, $4 FROM unnest($2::text[]) WITH ORDINALITY AS t(ep, n) ORDER BY n",
        &[&msg_id, &endpoint_ids, &trigger, &due],
    )
    .await?;
    wake_workers(tx).await
}

const MSG_COLS: &str =
    "m.id, m.account_id, m.event_type, m.event_id, m.channels, m.payload, m.created_at, m.seq, m.tags";

fn msg_row(r: &Row) -> Result<Message> {
    let channels: String = r.try_get(4)?;
    let tags: String = r.try_get(8)?;
    Ok(Message {
        id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        event_type: r.try_get(2)?,
        event_id: r.try_get(3)?,
        channels: serde_json::from_str(&channels)?,
        payload: r.try_get(5)?,
        created_at: r.try_get(6)?,
        seq: r.try_get(7)?,
        tags: serde_json::from_str(&tags)?,
    })
}

pub(crate) async fn message(tx: &Tx<'_>, account_id: i64, id: &str) -> Result<Message> {
    let row = one(
        tx,
        &format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.account_id = $1 AND (m.id = $2 OR m.event_id = $2)"
        ),
        &[&account_id, &id],
    )
    .await?;
    msg_row(&row)
}

fn cursor(it: &Option<String>) -> Option<i64> {
    it.as_deref().and_then(|s| s.parse::<i64>().ok())
}

pub(crate) async fn list_messages(
    tx: &Tx<'_>,
    account_id: i64,
    f: &ListFilter,
) -> Result<Vec<Message>> {
    let mut sql =
        format!("SELECT {MSG_COLS} FROM messages m WHERE m.account_id = $1 AND NOT m.operational");
    let mut args: Args = vec![Box::new(account_id)];
    if let Some(c) = cursor(&f.iterator) {
        args.push(Box::new(c));
        sql += &format!(" AND m.seq < ${}", args.len());
    }
    if !f.event_types.is_empty() {
        args.push(Box::new(f.event_types.clone()));
        sql += &format!(" AND m.event_type = ANY(${}::text[])", args.len());
    }
    if let Some(ch) = &f.channel {
        // One of the message's channels is exactly `ch` (case and all).
        args.push(Box::new(ch.clone()));
        sql += &format!(
            " AND m.channels::jsonb @> jsonb_build_array(${}::text)",
            args.len()
        );
    }
    if let Some(t) = &f.tag {
        args.push(Box::new(t.clone()));
        sql += &format!(
            " AND m.tags::jsonb @> jsonb_build_array(${}::text)",
            args.len()
        );
    }
    if let Some(b) = f.before {
        args.push(Box::new(b));
        sql += &format!(" AND m.created_ms < ${}", args.len());
    }
    if let Some(a) = f.after {
        args.push(Box::new(a));
        sql += &format!(" AND m.created_ms > ${}", args.len());
    }
    if let Some(ep) = &f.endpoint_id {
        args.push(Box::new(ep.clone()));
        let e = args.len();
        match f.status {
            Some(st) => {
                args.push(Box::new(st));
                // The message's state there is its latest delivery row.
                sql += &format!(
                    " AND (SELECT d.status FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ${e}
                           ORDER BY d.id DESC LIMIT 1) = ${}",
                    args.len()
                );
            }
            None => sql += &format!(" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ${e})"),
        }
    } else if let Some(st) = f.status {
        args.push(Box::new(st));
        sql += &format!(
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status = ${}
                 AND d.id = (SELECT MAX(d2.id) FROM deliveries d2
                             WHERE d2.msg_id = d.msg_id AND d2.endpoint_id = d.endpoint_id))",
            args.len()
        );
    }
    args.push(Box::new(f.limit));
    sql += &format!(" ORDER BY m.seq DESC LIMIT ${}", args.len());
    rows_dyn(tx, &sql, &args)
        .await?
        .iter()
        .map(msg_row)
        .collect()
}

pub(crate) async fn deliveries_of(
    tx: &Tx<'_>,
    account_id: i64,
    msg_id: &str,
) -> Result<Vec<DeliveryView>> {
    let m = message(tx, account_id, msg_id).await?;
    // The latest delivery row per endpoint tells the message's state there.
    let found = rows(
        tx,
        "SELECT endpoint_id, status, next_attempt_at FROM deliveries WHERE msg_id = $1 ORDER BY id",
        &[&m.id],
    )
    .await?;
    let mut out: Vec<DeliveryView> = Vec::new();
    for row in &found {
        let endpoint_id: String = row.try_get(0)?;
        let status = DeliveryStatus::try_from(row.try_get::<_, i64>(1)?)?;
        let next: i64 = row.try_get(2)?;
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

fn att_row(r: &Row) -> Result<Attempt> {
    Ok(Attempt {
        id: r.try_get(0)?,
        msg_id: r.try_get(1)?,
        endpoint_id: r.try_get(2)?,
        url: r.try_get(3)?,
        status: r.try_get(4)?,
        response_status_code: r.try_get(5)?,
        response: r.try_get(6)?,
        duration_ms: r.try_get(7)?,
        trigger_type: r.try_get(8)?,
        timestamp: r.try_get(9)?,
    })
}

pub(crate) async fn list_attempts(
    tx: &Tx<'_>,
    account_id: i64,
    msg_id: Option<&str>,
    f: &ListFilter,
) -> Result<Vec<Attempt>> {
    let mut sql = format!("SELECT {ATT_COLS} FROM attempts WHERE account_id = $1");
    let mut args: Args = vec![Box::new(account_id)];
    if let Some(m) = msg_id {
        let m = message(tx, account_id, m).await?;
        args.push(Box::new(m.id));
        sql += &format!(" AND msg_id = ${}", args.len());
    }
    if let Some(ep) = &f.endpoint_id {
        args.push(Box::new(ep.clone()));
        sql += &format!(" AND endpoint_id = ${}", args.len());
    }
    if let Some(st) = f.status {
        args.push(Box::new(st));
        sql += &format!(" AND status = ${}", args.len());
    }
    if let Some(t) = &f.tag {
        args.push(Box::new(t.clone()));
        sql += &format!(
            " AND msg_id IN (SELECT m.id FROM messages m
                             WHERE m.account_id = $1 AND m.tags::jsonb @> jsonb_build_array(${}::text))",
            args.len()
        );
    }
    if let Some(c) = cursor(&f.iterator) {
        args.push(Box::new(c));
        sql += &format!(" AND seq < ${}", args.len());
    }
    args.push(Box::new(f.limit));
    sql += &format!(" ORDER BY seq DESC LIMIT ${}", args.len());
    rows_dyn(tx, &sql, &args)
        .await?
        .iter()
        .map(att_row)
        .collect()
}

/// The attempt seq, for cursors (`None` for an unknown attempt).
pub(crate) async fn attempt_seq(tx: &Tx<'_>, id: &str) -> Result<Option<i64>> {
    opt(tx, "SELECT seq FROM attempts WHERE id = $1", &[&id])
        .await?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
}

pub(crate) async fn get_attempt(
    tx: &Tx<'_>,
    account_id: i64,
    msg_id: &str,
    attempt_id: &str,
) -> Result<Attempt> {
    let m = message(tx, account_id, msg_id).await?;
    let row = one(
        tx,
        &format!(
            "SELECT {ATT_COLS} FROM attempts WHERE account_id = $1 AND msg_id = $2 AND id = $3"
        ),
        &[&account_id, &m.id, &attempt_id],
    )
    .await?;
    att_row(&row)
}

pub(crate) async fn resend(
    tx: &Tx<'_>,
    account_id: i64,
    msg_id: &str,
    endpoint_id: &str,
) -> Result<()> {
    let m = message(tx, account_id, msg_id).await?;
    let ep = endpoints::get_app(&Pg(tx), account_id, endpoint_id).await?;
    if one(tx, crate::lifecycle::IS_EXPUNGED, &[&m.id])
        .await?
        .try_get::<_, bool>(0)?
    {
        return Err(crate::lifecycle::expunged_refusal());
    }
    queue_deliveries(tx, &m.id, &[ep.id], 1, now_ms()).await
}

/// Queues one manual delivery to `ep` of each message id, in order.
async fn queue_manual(tx: &Tx<'_>, ep: &str, msg_ids: &[String]) -> Result<i64> {
    let now = now_ms();
    if !msg_ids.is_empty() {
        exec(
            tx,
            "INSERT INTO deliveries (msg_id, endpoint_id, status, trigger_type, next_attempt_at, created_ms)
             SELECT m, $2, 1, 1, $3, $3 FROM unnest($1::text[]) WITH ORDINALITY AS t(m, n) ORDER BY n",
            &[&msg_ids, &ep, &now],
        )
        .await?;
        wake_workers(tx).await?;
    }
    Ok(msg_ids.len() as i64)
}

fn ids_of(found: &[Row]) -> Result<Vec<String>> {
    found.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub(crate) async fn recover(
    tx: &Tx<'_>,
    account_id: i64,
    endpoint_id: &str,
    since: i64,
    until: i64,
) -> Result<i64> {
    let ep = endpoints::get_app(&Pg(tx), account_id, endpoint_id).await?;
    // Failed or canceled there, never delivered, nothing queued (`delivery::recoverable`).
    let recoverable = crate::lifecycle::recoverable_list();
    let found = rows(
        tx,
        &format!(
            "SELECT m.id FROM messages m
         WHERE m.account_id = $1 AND m.created_ms >= $3 AND m.created_ms < $4 AND m.expunged_ms IS NULL
           AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $2 AND d.status IN ({recoverable}))
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $2 AND d.status IN (0, 1, 3))
         ORDER BY m.seq LIMIT 10000"
        ),
        &[&account_id, &ep.id, &since, &until],
    )
    .await?;
    queue_manual(tx, &ep.id, &ids_of(&found)?).await
}

pub(crate) async fn replay_missing(
    tx: &Tx<'_>,
    account_id: i64,
    endpoint_id: &str,
    since: i64,
    until: i64,
) -> Result<i64> {
    let ep = endpoints::get_app(&Pg(tx), account_id, endpoint_id).await?;
    // Messages never queued for this endpoint that it would have wanted when they were sent:
    // its event types and channels apply, and messages meant for one other endpoint only
    // (send-example) are not someone else's to replay.
    let found = rows(
        tx,
        "SELECT m.id, m.event_type, m.channels FROM messages m
         WHERE m.account_id = $1 AND m.created_ms >= $3 AND m.created_ms < $4 AND m.expunged_ms IS NULL
           AND (m.only_endpoint IS NULL OR m.only_endpoint = $2) AND NOT m.operational
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $2)
         ORDER BY m.seq LIMIT 10000",
        &[&account_id, &ep.id, &since, &until],
    )
    .await?;
    let mut wanted = Vec::new();
    for row in &found {
        let event_type: String = row.try_get(1)?;
        let channels: String = row.try_get(2)?;
        let channels: Vec<String> = serde_json::from_str(&channels)?;
        if endpoint_wants(
            ep.event_types.as_deref(),
            ep.channels.as_deref(),
            &event_type,
            &channels,
        ) {
            wanted.push(row.try_get(0)?);
        }
    }
    queue_manual(tx, &ep.id, &wanted).await
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
        stamps.push(c.timestamp());
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

pub(crate) async fn next_due(tx: &Tx<'_>, skip: &[String]) -> Result<Option<i64>> {
    Ok(one(
        tx,
        "SELECT MIN(t) FROM (
             SELECT MIN(d.next_attempt_at) AS t FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
               WHERE d.status = 1 AND NOT e.disabled AND NOT (d.endpoint_id = ANY($1))
             UNION ALL
             SELECT MIN(d.lease_until) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
               WHERE d.status = 3 AND NOT e.disabled) due",
        &[&skip],
    )
    .await?
    .try_get(0)?)
}

pub(crate) async fn depth(tx: &Tx<'_>) -> Result<(i64, Option<i64>)> {
    let row = one(
        tx,
        "SELECT COUNT(*), MIN(next_attempt_at) FROM deliveries WHERE status IN (1, 3)",
        &[],
    )
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
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

/// How long a request may hold an idempotency key before another may take it over.
const IDEMPOTENCY_LOCK_MS: i64 = 30_000;

pub(crate) async fn idempotency_begin(
    tx: &Tx<'_>,
    key: &str,
    now: i64,
    expired_before: i64,
) -> Result<Idempotent> {
    exec(
        tx,
        "DELETE FROM idempotency WHERE created_ms < $1",
        &[&expired_before],
    )
    .await?;
    // A claim whose request died (status still 0 long after) is released.
    exec(
        tx,
        "DELETE FROM idempotency WHERE key = $1 AND status = 0 AND created_ms < $2",
        &[&key, &(now - IDEMPOTENCY_LOCK_MS)],
    )
    .await?;
    // Two nodes may see the same new key at once: the insert decides which one runs (the
    // other waits for it here, then finds its claim).
    let claimed = exec(
        tx,
        "INSERT INTO idempotency (key, status, body, created_ms) VALUES ($1, 0, ''::bytea, $2)
         ON CONFLICT (key) DO NOTHING",
        &[&key, &now],
    )
    .await?;
    if claimed == 1 {
        return Ok(Idempotent::Run);
    }
    let found = opt(
        tx,
        "SELECT status, body FROM idempotency WHERE key = $1",
        &[&key],
    )
    .await?;
    Ok(match found {
        Some(row) => {
            let status: i64 = row.try_get(0)?;
            if status == 0 {
                Idempotent::InFlight
            } else {
                Idempotent::Done(u16::try_from(status).unwrap_or(200), row.try_get(1)?)
            }
        }
        // Released by its request between our insert and this read: ask again.
        None => Idempotent::InFlight,
    })
}

pub(crate) async fn idempotency_finish(
    tx: &Tx<'_>,
    key: &str,
    response: Option<(u16, Vec<u8>)>,
) -> Result<()> {
    match response {
        Some((status, body)) => {
            exec(
                tx,
                "UPDATE idempotency SET status = $2, body = $3 WHERE key = $1",
                &[&key, &i64::from(status), &body],
            )
            .await?;
        }
        None => {
            exec(
                tx,
                "DELETE FROM idempotency WHERE key = $1 AND status = 0",
                &[&key],
            )
            .await?;
        }
    }
    Ok(())
}

pub(crate) async fn put_task(
    tx: &Tx<'_>,
    id: &str,
    account_id: i64,
    record: &str,
    now: i64,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO tasks (id, account_id, record, updated_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_ms = excluded.updated_ms",
        &[&id, &account_id, &record, &now],
    )
    .await?;
    if let Some(ev) = crate::opwh::task_event(record) {
        shared::opwh::emit(&Pg(tx), account_id, &ev).await?;
    }
    Ok(())
}

pub(crate) async fn get_task(tx: &Tx<'_>, id: &str) -> Result<Option<(i64, String)>> {
    opt(
        tx,
        "SELECT account_id, record FROM tasks WHERE id = $1",
        &[&id],
    )
    .await?
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .transpose()
}

pub(crate) async fn list_tasks(tx: &Tx<'_>, accounts: &[i64]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in accounts {
        let found = rows(
            tx,
            "SELECT record FROM tasks WHERE account_id = $1 ORDER BY updated_ms DESC LIMIT 100",
            &[a],
        )
        .await?;
        for row in &found {
            out.push(row.try_get(0)?);
        }
    }
    Ok(out)
}
