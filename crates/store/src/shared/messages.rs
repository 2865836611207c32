//! The read and management side of the message queue, one text for both backends: messages
//! and their deliveries as the API shows them, the attempt log, manual resends, recovery and
//! replay, and the queue's depth. Inserting messages and the worker's claims and completions
//! (the hot path) stay per backend for now.

use datahooks_domain::events::endpoint_wants;

use super::now_ms;
use crate::jobs::JobKind;
use crate::lifecycle::{expunged_refusal, recoverable_list, IS_EXPUNGED};
use crate::sql::{from_cols, Arg, Cols, Db};
use crate::webhooks::{Attempt, DeliveryStatus, DeliveryView, ListFilter, Message};
use crate::{Error, Result};

/// The parameters of a statement built at run time, numbered as they are added.
struct Params<'a>(Vec<&'a dyn Arg>);

impl<'a> Params<'a> {
    /// Adds a parameter; returns its number (`$n`).
    fn add(&mut self, a: &'a dyn Arg) -> usize {
        self.0.push(a);
        self.0.len()
    }
}

/// Tells the workers, when the transaction commits, that deliveries were queued: this
/// node's through `crate::handoff`, the other nodes' by the dialect's notification.
async fn wake_workers(db: &impl Db) -> Result<()> {
    if let Some(sql) = db.dialect().notify() {
        db.exec(sql, &[&crate::postgres::WAKEUP_CHANNEL]).await?;
    }
    crate::handoff::wake_after_commit();
    Ok(())
}

// ---- messages ------------------------------------------------------------------------

const MSG_COLS: &str =
    "m.id, m.account_id, m.event_type, m.event_id, m.channels, m.payload, m.created_at, m.seq";

/// A message without its tags (the event stream does not carry them).
pub(crate) fn untagged_row(r: &impl Cols) -> Result<Message> {
    Ok(from_cols!(r => Message {
        id, account_id, event_type, event_id, payload, created_at, seq,
        channels: serde_json::from_str(&r.get::<String>("channels")?)?,
        tags: Vec::new(),
    }))
}

/// A message read with `{MSG_COLS}, m.tags`.
fn msg_row(r: &impl Cols) -> Result<Message> {
    let mut m = untagged_row(r)?;
    m.tags = serde_json::from_str(&r.get::<String>("tags")?)?;
    Ok(m)
}

/// A message of the account, by id or eventId.
pub(crate) async fn message(db: &impl Db, account_id: i64, id: &str) -> Result<Message> {
    let sql = format!(
        "SELECT {MSG_COLS}, m.tags FROM messages m
         WHERE m.account_id = $1 AND (m.id = $2 OR m.event_id = $2)"
    );
    db.one(&sql, &[&account_id, &id], |r| msg_row(r)).await
}

/// A message's state at each endpoint it was queued for, in the order they were first queued.
pub(crate) async fn deliveries_of(
    db: &impl Db,
    account_id: i64,
    msg_id: &str,
) -> Result<Vec<DeliveryView>> {
    let m = message(db, account_id, msg_id).await?;
    let found: Vec<(String, i64, i64)> = db
        .rows(
            "SELECT endpoint_id, status, next_attempt_at FROM deliveries WHERE msg_id = $1 ORDER BY id",
            &[&m.id],
            |r| Ok((r.get("endpoint_id")?, r.get("status")?, r.get("next_attempt_at")?)),
        )
        .await?;
    // The latest delivery row per endpoint tells the message's state there.
    let mut out: Vec<DeliveryView> = Vec::new();
    for (endpoint_id, status, next) in found {
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

/// A list cursor: the `seq` to continue below.
fn cursor(it: &Option<String>) -> Option<i64> {
    it.as_deref().and_then(|s| s.parse::<i64>().ok())
}

/// The account's application messages, newest first, as the filter asks.
pub(crate) async fn list_messages(
    db: &impl Db,
    account_id: i64,
    f: &ListFilter,
) -> Result<Vec<Message>> {
    let d = db.dialect();
    let seq = cursor(&f.iterator);
    let types = if f.event_types.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&f.event_types)?)
    };
    let mut sql = format!(
        "SELECT {MSG_COLS}, m.tags FROM messages m WHERE m.account_id = $1 AND NOT m.operational"
    );
    let mut p = Params(vec![&account_id]);
    if let Some(c) = &seq {
        sql += &format!(" AND m.seq < ${}", p.add(c));
    }
    if let Some(t) = &types {
        let list = d.json_text_rows(p.add(t), "ty");
        sql += &format!(" AND m.event_type IN (SELECT ty.value FROM {list})");
    }
    if let Some(ch) = &f.channel {
        // One of the message's channels is exactly `ch` (case and all).
        sql += &format!(" AND {}", d.json_array_has("m.channels", p.add(ch)));
    }
    if let Some(t) = &f.tag {
        sql += &format!(" AND {}", d.json_array_has("m.tags", p.add(t)));
    }
    if let Some(b) = &f.before {
        sql += &format!(" AND m.created_ms < ${}", p.add(b));
    }
    if let Some(a) = &f.after {
        sql += &format!(" AND m.created_ms > ${}", p.add(a));
    }
    if let Some(ep) = &f.endpoint_id {
        let e = p.add(ep);
        match &f.status {
            // The message's state there is its latest delivery row.
            Some(st) => {
                sql += &format!(
                    " AND (SELECT d.status FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ${e}
                           ORDER BY d.id DESC LIMIT 1) = ${}",
                    p.add(st)
                )
            }
            None => sql += &format!(
                " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ${e})"
            ),
        }
    } else if let Some(st) = &f.status {
        sql += &format!(
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status = ${}
                 AND d.id = (SELECT MAX(d2.id) FROM deliveries d2
                             WHERE d2.msg_id = d.msg_id AND d2.endpoint_id = d.endpoint_id))",
            p.add(st)
        );
    }
    sql += &format!(" ORDER BY m.seq DESC LIMIT ${}", p.add(&f.limit));
    db.rows(&sql, &p.0, |r| msg_row(r)).await
}

// ---- the attempt log -----------------------------------------------------------------

const ATT_COLS: &str = "id, msg_id, endpoint_id, url, status, response_status_code, response, duration_ms, trigger_type, timestamp";

fn att_row(r: &impl Cols) -> Result<Attempt> {
    Ok(from_cols!(r => Attempt {
        id, msg_id, endpoint_id, url, status, response_status_code, response, duration_ms,
        trigger_type, timestamp,
    }))
}

/// The attempt's seq (`None` for an unknown attempt).
async fn attempt_seq(db: &impl Db, id: &str) -> Result<Option<i64>> {
    db.opt("SELECT seq FROM attempts WHERE id = $1", &[&id], |r| {
        r.get("seq")
    })
    .await
}

/// The account's attempts (of one message when `msg_id` is given), newest first, as the
/// filter asks. The filter's cursor is an attempt id, or a seq.
pub(crate) async fn list_attempts(
    db: &impl Db,
    account_id: i64,
    msg_id: Option<&str>,
    f: &ListFilter,
) -> Result<Vec<Attempt>> {
    let seq = match &f.iterator {
        Some(it) => attempt_seq(db, it).await?.or_else(|| it.parse().ok()),
        None => None,
    };
    let msg = match msg_id {
        Some(m) => Some(message(db, account_id, m).await?.id),
        None => None,
    };
    let mut sql = format!("SELECT {ATT_COLS} FROM attempts WHERE account_id = $1");
    let mut p = Params(vec![&account_id]);
    if let Some(m) = &msg {
        sql += &format!(" AND msg_id = ${}", p.add(m));
    }
    if let Some(ep) = &f.endpoint_id {
        sql += &format!(" AND endpoint_id = ${}", p.add(ep));
    }
    if let Some(st) = &f.status {
        sql += &format!(" AND status = ${}", p.add(st));
    }
    if let Some(t) = &f.tag {
        let tagged = db.dialect().json_array_has("m.tags", p.add(t));
        sql += &format!(
            " AND msg_id IN (SELECT m.id FROM messages m WHERE m.account_id = $1 AND {tagged})"
        );
    }
    if let Some(c) = &seq {
        sql += &format!(" AND seq < ${}", p.add(c));
    }
    sql += &format!(" ORDER BY seq DESC LIMIT ${}", p.add(&f.limit));
    db.rows(&sql, &p.0, |r| att_row(r)).await
}

pub(crate) async fn get_attempt(
    db: &impl Db,
    account_id: i64,
    msg_id: &str,
    attempt_id: &str,
) -> Result<Attempt> {
    let m = message(db, account_id, msg_id).await?;
    let sql = format!(
        "SELECT {ATT_COLS} FROM attempts WHERE account_id = $1 AND msg_id = $2 AND id = $3"
    );
    db.one(&sql, &[&account_id, &m.id, &attempt_id], |r| att_row(r))
        .await
}

// ---- sending again -------------------------------------------------------------------

/// What sending again needs of an application endpoint (by id or uid): whose it is, its id
/// and what it subscribes to.
struct Target {
    account_id: i64,
    id: String,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
}

async fn target(db: &impl Db, account_id: i64, id: &str) -> Result<Target> {
    let (id, event_types, channels): (String, Option<String>, Option<String>) = db
        .one(
            "SELECT id, event_types, channels FROM endpoints
             WHERE account_id = $1 AND (id = $2 OR uid = $2) AND NOT operational",
            &[&account_id, &id],
            |r| Ok((r.get("id")?, r.get("event_types")?, r.get("channels")?)),
        )
        .await?;
    let list = |s: Option<String>| s.as_deref().map(serde_json::from_str).transpose();
    Ok(Target {
        account_id,
        id,
        event_types: list(event_types)?,
        channels: list(channels)?,
    })
}

/// Queues one manual delivery to `endpoint_id` of each message id, in order, due now; returns
/// how many.
async fn queue_manual(db: &impl Db, endpoint_id: &str, msg_ids: &[String]) -> Result<i64> {
    if msg_ids.is_empty() {
        return Ok(0);
    }
    let ids = serde_json::to_string(msg_ids)?;
    let sql = format!(
        "INSERT INTO deliveries (msg_id, endpoint_id, status, trigger_type, next_attempt_at, created_ms)
         SELECT l.value, $2, 1, 1, $3, $3 FROM {} ORDER BY l.n",
        db.dialect().json_text_rows(1, "l")
    );
    db.exec(&sql, &[&ids, &endpoint_id, &now_ms()]).await?;
    wake_workers(db).await?;
    Ok(msg_ids.len() as i64)
}

/// Sends a message to an endpoint once more (unless its payload was expunged).
pub(crate) async fn resend(
    db: &impl Db,
    account_id: i64,
    msg_id: &str,
    endpoint_id: &str,
) -> Result<()> {
    let m = message(db, account_id, msg_id).await?;
    let ep = target(db, account_id, endpoint_id).await?;
    if db.one(IS_EXPUNGED, &[&m.id], |r| r.get("expunged")).await? {
        return Err(expunged_refusal());
    }
    queue_manual(db, &ep.id, &[m.id]).await.map(|_| ())
}

/// Which messages of a time window [`send_again`] queues for an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Again {
    /// Those that failed or were canceled there, never delivered, with nothing queued.
    Recover,
    /// Those never queued for it that it would have wanted.
    ReplayMissing,
}

impl TryFrom<JobKind> for Again {
    type Error = Error;

    /// What a background task's job sends again (recover and replay are the task jobs).
    fn try_from(kind: JobKind) -> Result<Again> {
        match kind {
            JobKind::Recover => Ok(Again::Recover),
            JobKind::ReplayMissing => Ok(Again::ReplayMissing),
            other => Err(Error::Other(format!(
                "{} is not a task job",
                other.as_str()
            ))),
        }
    }
}

/// Queues to an endpoint (by id or uid) the messages of `[since, until)` that `which` names;
/// returns how many.
pub(crate) async fn send_again(
    db: &impl Db,
    which: Again,
    account_id: i64,
    endpoint_id: &str,
    since: i64,
    until: i64,
) -> Result<i64> {
    let ep = target(db, account_id, endpoint_id).await?;
    match which {
        Again::Recover => recover(db, &ep, since, until).await,
        Again::ReplayMissing => replay_missing(db, &ep, since, until).await,
    }
}

/// [`Again::Recover`]: failed or canceled there, never delivered, nothing queued
/// (`delivery::recoverable`).
async fn recover(db: &impl Db, ep: &Target, since: i64, until: i64) -> Result<i64> {
    let sql = format!(
        "SELECT m.id FROM messages m
         WHERE m.account_id = $1 AND m.created_ms >= $3 AND m.created_ms < $4 AND m.expunged_ms IS NULL
           AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $2 AND d.status IN ({}))
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $2 AND d.status IN (0, 1, 3))
         ORDER BY m.seq LIMIT 10000",
        recoverable_list()
    );
    let ids: Vec<String> = db
        .rows(&sql, &[&ep.account_id, &ep.id, &since, &until], |r| {
            r.get("id")
        })
        .await?;
    queue_manual(db, &ep.id, &ids).await
}

/// [`Again::ReplayMissing`]: never queued for the endpoint, and it would have wanted them
/// when they were sent.
async fn replay_missing(db: &impl Db, ep: &Target, since: i64, until: i64) -> Result<i64> {
    // Its event types and channels apply, and messages meant for one other endpoint only
    // (send-example) are not someone else's to replay.
    let found: Vec<(String, String, String)> = db
        .rows(
            "SELECT m.id, m.event_type, m.channels FROM messages m
             WHERE m.account_id = $1 AND m.created_ms >= $3 AND m.created_ms < $4 AND m.expunged_ms IS NULL
               AND (m.only_endpoint IS NULL OR m.only_endpoint = $2) AND NOT m.operational
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $2)
             ORDER BY m.seq LIMIT 10000",
            &[&ep.account_id, &ep.id, &since, &until],
            |r| Ok((r.get("id")?, r.get("event_type")?, r.get("channels")?)),
        )
        .await?;
    let mut wanted = Vec::new();
    for (id, event_type, channels) in found {
        let channels: Vec<String> = serde_json::from_str(&channels)?;
        if endpoint_wants(
            ep.event_types.as_deref(),
            ep.channels.as_deref(),
            &event_type,
            &channels,
        ) {
            wanted.push(id);
        }
    }
    queue_manual(db, &ep.id, &wanted).await
}

// ---- the queue's state ---------------------------------------------------------------

/// When the next delivery falls due (a pending one, or a lease running out), leaving out the
/// endpoints in `skip`; `None` when nothing waits. Disabled endpoints' deliveries wait.
pub(crate) async fn next_due(db: &impl Db, skip: &[String]) -> Result<Option<i64>> {
    let skip = serde_json::to_string(skip)?;
    let sql = format!(
        "SELECT MIN(t) AS t FROM (
             SELECT MIN(d.next_attempt_at) AS t FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
               WHERE d.status = 1 AND NOT e.disabled
                 AND d.endpoint_id NOT IN (SELECT s.value FROM {})
             UNION ALL
             SELECT MIN(d.lease_until) FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
               WHERE d.status = 3 AND NOT e.disabled) due",
        db.dialect().json_text_rows(1, "s")
    );
    db.one(&sql, &[&skip], |r| r.get("t")).await
}

/// How many deliveries wait or are being sent, and the earliest one's due time.
pub(crate) async fn depth(db: &impl Db) -> Result<(i64, Option<i64>)> {
    db.one(
        "SELECT COUNT(*) AS n, MIN(next_attempt_at) AS due FROM deliveries WHERE status IN (1, 3)",
        &[],
        |r| Ok((r.get("n")?, r.get("due")?)),
    )
    .await
}
