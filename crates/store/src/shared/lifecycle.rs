//! A message's life beyond the queue (`crate::lifecycle`): expunging payloads and attempt
//! responses, and the retention sweep, one text for both backends. Creating a message with
//! its extras goes through the per-backend insert, so it stays there.

use super::messages::message;
use super::now_ms;
use crate::charts::since_text;
use crate::lifecycle::{
    cancel_deliveries_sql, delete_message_sql, old_messages_sql, SweepReport, DELETE_ATTEMPTS,
    DELETE_EVENTS, DELETE_IDEMPOTENCY, EXPIRED_PAYLOAD, EXPIRED_PAYLOADS, EXPUNGED_RESPONSE,
    EXPUNGE_ATTEMPT, EXPUNGE_PAYLOAD,
};
use crate::sql::{Cols, Db};
use crate::{Error, Result};

/// Expunges one message's payload (by its id) and cancels what it still had to send.
async fn expunge(db: &impl Db, id: &str, now: i64) -> Result<u64> {
    let canceled = db.exec(&cancel_deliveries_sql(), &[&id]).await?;
    db.exec(EXPUNGE_PAYLOAD, &[&EXPIRED_PAYLOAD, &now, &id])
        .await?;
    Ok(canceled)
}

/// The ids a statement with two parameters selects.
async fn ids(db: &impl Db, sql: &str, a: i64, b: i64) -> Result<Vec<String>> {
    db.rows(sql, &[&a, &b], |r| r.get("id")).await
}

/// `LifecycleStore::expunge_message`.
pub(crate) async fn expunge_message(db: &impl Db, account_id: i64, msg_id: &str) -> Result<u64> {
    let m = message(db, account_id, msg_id).await?;
    expunge(db, &m.id, now_ms()).await
}

/// `LifecycleStore::expunge_attempt`.
pub(crate) async fn expunge_attempt(
    db: &impl Db,
    account_id: i64,
    msg_id: &str,
    attempt_id: &str,
) -> Result<()> {
    let m = message(db, account_id, msg_id).await?;
    let n = db
        .exec(
            EXPUNGE_ATTEMPT,
            &[&EXPUNGED_RESPONSE, &account_id, &m.id, &attempt_id],
        )
        .await?;
    if n == 0 {
        return Err(Error::not_found());
    }
    Ok(())
}

/// `LifecycleStore::sweep`: one bounded pass at `now`.
pub(crate) async fn sweep(
    db: &impl Db,
    now: i64,
    retention_ms: Option<i64>,
    batch: i64,
) -> Result<SweepReport> {
    let mut r = SweepReport::default();
    for id in ids(db, EXPIRED_PAYLOADS, now, batch).await? {
        expunge(db, &id, now).await?;
        r.payloads_expired += 1;
    }
    let Some(retention) = retention_ms else {
        return Ok(r);
    };
    let cut_ms = now - retention;
    // Events keep their time as text.
    let cut_text = since_text(cut_ms)?;
    for id in ids(db, &old_messages_sql(), cut_ms, batch).await? {
        if db.exec(&delete_message_sql(), &[&id]).await? == 1 {
            r.messages += 1;
            r.attempts += db.exec(DELETE_ATTEMPTS, &[&id]).await?;
        }
    }
    r.events = db.exec(DELETE_EVENTS, &[&cut_text, &batch]).await?;
    r.idempotency = db.exec(DELETE_IDEMPOTENCY, &[&cut_ms, &batch]).await?;
    Ok(r)
}

crate::both::on_both! {
    impl crate::lifecycle::LifecycleStore;
    items {
        /// Through each backend's own message insert (`ingest`): on PostgreSQL a group commit
        /// with the other messages arriving meanwhile, on SQLite one write of its writer.
        async fn create_message_with(
            &self,
            account_id: i64,
            msg: crate::webhooks::NewMessage,
            extras: crate::lifecycle::MessageExtras,
        ) -> Result<crate::webhooks::Message> {
            self.ingest(account_id, msg, extras).await
        }
    }
    write fn expunge_message(account_id: i64, msg_id: &str) -> Result<u64> =
        |db| expunge_message(db, account_id, msg_id);
    write fn expunge_attempt(account_id: i64, msg_id: &str, attempt_id: &str) -> Result<()> =
        |db| expunge_attempt(db, account_id, msg_id, attempt_id);
    write fn sweep(now_ms: i64, retention_ms: Option<i64>, batch: i64) -> Result<SweepReport> =
        |db| sweep(db, now_ms, retention_ms, batch);
}
