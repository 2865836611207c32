//! [`StreamStore`] for PostgreSQL.

use async_trait::async_trait;

use super::{exec, new_id, now, one, opt, read_tx, rows, write_tx, PgStore, Tx};
use crate::stream::{Forwarded, StreamStore, LISTEN_REASON};
use crate::webhooks::{Attempt, Message};
use crate::{Error, Result};

async fn messages_after(tx: &Tx<'_>, account: i64, after: i64, limit: i64) -> Result<Vec<Message>> {
    let found = rows(
        tx,
        "SELECT id, account_id, event_type, event_id, channels, payload, created_at, seq
         FROM messages WHERE account_id = $1 AND seq > $2 AND NOT operational ORDER BY seq LIMIT $3",
        &[&account, &after, &limit],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            Ok(Message {
                id: r.try_get(0)?,
                account_id: r.try_get(1)?,
                event_type: r.try_get(2)?,
                event_id: r.try_get(3)?,
                channels: serde_json::from_str(r.try_get::<_, &str>(4)?)?,
                payload: r.try_get(5)?,
                created_at: r.try_get(6)?,
                seq: r.try_get(7)?,
                // The stream does not carry Svix tags.
                tags: Vec::new(),
            })
        })
        .collect()
}

async fn record(tx: &Tx<'_>, account: i64, f: &Forwarded) -> Result<Attempt> {
    let known = opt(
        tx,
        "SELECT 1 FROM messages m, endpoints e WHERE m.account_id = $1 AND m.id = $2
           AND e.account_id = $1 AND e.id = $3 AND e.disabled_reason = $4",
        &[&account, &f.msg_id, &f.endpoint_id, &LISTEN_REASON],
    )
    .await?;
    if known.is_none() {
        return Err(Error::not_found());
    }
    let (_, at) = now();
    let a = f.attempt(new_id("atmpt"), at);
    exec(
        tx,
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

#[async_trait]
impl StreamStore for PgStore {
    fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        PgStore::commits(self)
    }

    async fn messages_after(
        &self,
        account_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Message>> {
        read_tx!(self, |tx| messages_after(&tx, account_id, after, limit)
            .await)
    }

    async fn last_message_seq(&self, account_id: i64) -> Result<i64> {
        read_tx!(self, |tx| {
            let r = one(
                &tx,
                "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE account_id = $1",
                &[&account_id],
            )
            .await?;
            Ok::<i64, Error>(r.try_get(0)?)
        })
    }

    async fn mark_listen_endpoint(&self, account_id: i64, endpoint_id: &str) -> Result<()> {
        let n = write_tx!(self, |tx| {
            exec(
                &tx,
                "UPDATE endpoints SET disabled = TRUE, disabled_reason = $3
             WHERE account_id = $1 AND id = $2 AND NOT operational",
                &[&account_id, &endpoint_id, &LISTEN_REASON],
            )
            .await
        })?;
        if n == 0 {
            return Err(Error::not_found());
        }
        Ok(())
    }

    async fn record_forwarded(&self, account_id: i64, f: Forwarded) -> Result<Attempt> {
        write_tx!(self, |tx| record(&tx, account_id, &f).await)
    }
}
