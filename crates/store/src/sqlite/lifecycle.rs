//! [`LifecycleStore`] for SQLite: the shared SQL from `crate::lifecycle`.

use async_trait::async_trait;
use rusqlite::{params, Transaction};

use super::{new_id, queue, SqliteStore};
use crate::charts::since_text;
use crate::lifecycle::{
    cancel_deliveries_sql, delete_message_sql, old_messages_sql, LifecycleStore, MessageExtras,
    SweepReport, DELETE_ATTEMPTS, DELETE_EVENTS, DELETE_IDEMPOTENCY, EXPIRED_PAYLOAD,
    EXPIRED_PAYLOADS, EXPUNGED_RESPONSE, EXPUNGE_ATTEMPT, EXPUNGE_PAYLOAD, SET_EXTRAS,
};
use crate::webhooks::{Message, NewMessage};
use crate::{Error, Result};

/// Expunges one message's payload (by its id) and cancels what it still had to send.
fn expunge(tx: &Transaction<'_>, id: &str, now: i64) -> Result<u64> {
    let canceled = tx.execute(&cancel_deliveries_sql(), params![id])?;
    tx.execute(EXPUNGE_PAYLOAD, params![EXPIRED_PAYLOAD, now, id])?;
    Ok(canceled as u64)
}

fn ids(tx: &Transaction<'_>, sql: &str, a: i64, b: i64) -> Result<Vec<String>> {
    let mut st = tx.prepare_cached(sql)?;
    let rows = st.query_map(params![a, b], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[async_trait]
impl LifecycleStore for SqliteStore {
    async fn create_message_with(
        &self,
        account_id: i64,
        msg: NewMessage,
        extras: MessageExtras,
    ) -> Result<Message> {
        let tags = serde_json::to_string(&extras.tags)?;
        self.write(move |tx| {
            let mut m = queue::insert_message(
                tx,
                account_id,
                &new_id("msg"),
                &msg.event_type,
                msg.event_id.as_deref(),
                &msg.channels,
                &msg.payload,
                msg.only_endpoint.as_deref(),
            )?;
            tx.execute(SET_EXTRAS, params![tags, extras.payload_expire_ms, m.id])?;
            m.tags = extras.tags;
            Ok(m)
        })
        .await
    }

    async fn expunge_message(&self, account_id: i64, msg_id: &str) -> Result<u64> {
        let msg_id = msg_id.to_owned();
        self.write(move |tx| {
            let m = queue::message(tx, account_id, &msg_id)?;
            expunge(tx, &m.id, super::now_ms())
        })
        .await
    }

    async fn expunge_attempt(&self, account_id: i64, msg_id: &str, attempt_id: &str) -> Result<()> {
        let (msg_id, attempt_id) = (msg_id.to_owned(), attempt_id.to_owned());
        self.write(move |tx| {
            let m = queue::message(tx, account_id, &msg_id)?;
            let n = tx.execute(
                EXPUNGE_ATTEMPT,
                params![EXPUNGED_RESPONSE, account_id, m.id, attempt_id],
            )?;
            if n == 0 {
                return Err(Error::not_found());
            }
            Ok(())
        })
        .await
    }

    async fn sweep(
        &self,
        now_ms: i64,
        retention_ms: Option<i64>,
        batch: i64,
    ) -> Result<SweepReport> {
        let cutoff = retention_ms
            .map(|r| Ok::<_, Error>((now_ms - r, since_text(now_ms - r)?)))
            .transpose()?;
        self.write(move |tx| {
            let mut r = SweepReport::default();
            for id in ids(tx, EXPIRED_PAYLOADS, now_ms, batch)? {
                expunge(tx, &id, now_ms)?;
                r.payloads_expired += 1;
            }
            let Some((cut_ms, cut_text)) = cutoff else {
                return Ok(r);
            };
            for id in ids(tx, &old_messages_sql(), cut_ms, batch)? {
                if tx.execute(&delete_message_sql(), params![id])? == 1 {
                    r.messages += 1;
                    r.attempts += tx.execute(DELETE_ATTEMPTS, params![id])? as u64;
                }
            }
            r.events = tx.execute(DELETE_EVENTS, params![cut_text, batch])? as u64;
            r.idempotency = tx.execute(DELETE_IDEMPOTENCY, params![cut_ms, batch])? as u64;
            Ok(r)
        })
        .await
    }
}
