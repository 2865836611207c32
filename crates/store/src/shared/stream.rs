//! The event stream's reads and its record of forwarded events (`crate::stream`), one text
//! for both backends.

use super::messages::untagged_row;
use super::{new_id, now};
use crate::sql::{Cols, Db};
use crate::stream::{Forwarded, LISTEN_REASON};
use crate::webhooks::{Attempt, Message};
use crate::{Error, Result};

/// The account's application messages with `seq > after`, in `seq` order, at most `limit`.
pub(crate) async fn messages_after(
    db: &impl Db,
    account: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    db.rows(
        "SELECT id, account_id, event_type, event_id, channels, payload, created_at, seq
         FROM messages WHERE account_id = $1 AND seq > $2 AND NOT operational ORDER BY seq LIMIT $3",
        &[&account, &after, &limit],
        |r| untagged_row(r),
    )
    .await
}

/// The seq of the account's newest message (0 when none).
pub(crate) async fn last_message_seq(db: &impl Db, account: i64) -> Result<i64> {
    db.one(
        "SELECT COALESCE(MAX(seq), 0) AS seq FROM messages WHERE account_id = $1",
        &[&account],
        |r| r.get("seq"),
    )
    .await
}

/// Makes an application endpoint of the account its listen endpoint.
pub(crate) async fn mark_listen_endpoint(
    db: &impl Db,
    account: i64,
    endpoint_id: &str,
) -> Result<()> {
    let n = db
        .exec(
            "UPDATE endpoints SET disabled = TRUE, disabled_reason = $3
             WHERE account_id = $1 AND id = $2 AND NOT operational",
            &[&account, &endpoint_id, &LISTEN_REASON],
        )
        .await?;
    if n == 0 {
        return Err(Error::not_found());
    }
    Ok(())
}

/// Logs a forwarded event as an attempt of the account's listen endpoint.
pub(crate) async fn record(db: &impl Db, account: i64, f: &Forwarded) -> Result<Attempt> {
    let known = db
        .opt(
            "SELECT 1 AS known FROM messages m, endpoints e WHERE m.account_id = $1 AND m.id = $2
               AND e.account_id = $1 AND e.id = $3 AND e.disabled_reason = $4",
            &[&account, &f.msg_id, &f.endpoint_id, &LISTEN_REASON],
            |_| Ok(()),
        )
        .await?;
    if known.is_none() {
        return Err(Error::not_found());
    }
    let (_, at) = now();
    let a = f.attempt(new_id("atmpt"), at);
    db.exec(
        "INSERT INTO attempts (id, account_id, msg_id, endpoint_id, url, status, response_status_code,
             response, duration_ms, trigger_type, timestamp)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &a.id,
            &account,
            &a.msg_id,
            &a.endpoint_id,
            &a.url,
            &a.status,
            &a.response_status_code,
            &a.response,
            &a.duration_ms,
            &a.trigger_type,
            &a.timestamp,
        ],
    )
    .await?;
    Ok(a)
}

crate::both::on_both! {
    impl crate::stream::StreamStore;
    items {
        fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
            Self::commits(self)
        }
    }
    read fn messages_after(account: i64, after: i64, limit: i64) -> Result<Vec<Message>> =
        |db| messages_after(db, account, after, limit);
    read fn last_message_seq(account_id: i64) -> Result<i64> =
        |db| last_message_seq(db, account_id);
    write fn mark_listen_endpoint(account_id: i64, endpoint_id: &str) -> Result<()> =
        |db| mark_listen_endpoint(db, account_id, endpoint_id);
    write fn record_forwarded(account_id: i64, f: Forwarded) -> Result<Attempt> =
        |db| record(db, account_id, f);
}
