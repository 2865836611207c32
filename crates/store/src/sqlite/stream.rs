//! [`StreamStore`] for SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};

use super::{new_id, now, SqliteStore};
use crate::stream::{Forwarded, StreamStore, LISTEN_REASON};
use crate::webhooks::{Attempt, Message};
use crate::{Error, Result};

fn messages_after(
    tx: &Transaction<'_>,
    account: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    let mut st = tx.prepare_cached(
        "SELECT id, account_id, event_type, event_id, channels, payload, created_at, seq
         FROM messages WHERE account_id = ?1 AND seq > ?2 AND operational = 0 ORDER BY seq LIMIT ?3",
    )?;
    let rows = st
        .query_map(params![account, after, limit], |r| {
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
                    // The stream does not carry Svix tags.
                    tags: Vec::new(),
                },
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(mut m, channels)| {
            m.channels = serde_json::from_str(&channels)?;
            Ok(m)
        })
        .collect()
}

fn record(tx: &Transaction<'_>, account: i64, f: &Forwarded) -> Result<Attempt> {
    let known: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM messages m, endpoints e WHERE m.account_id = ?1 AND m.id = ?2
               AND e.account_id = ?1 AND e.id = ?3 AND e.disabled_reason = ?4",
            params![account, f.msg_id, f.endpoint_id, LISTEN_REASON],
            |r| r.get(0),
        )
        .optional()?;
    if known.is_none() {
        return Err(Error::not_found());
    }
    let (_, at) = now();
    let a = f.attempt(new_id("atmpt"), at);
    tx.execute(
        "INSERT INTO attempts (id, account_id, msg_id, endpoint_id, url, status, response_status_code,
             response, duration_ms, trigger_type, timestamp)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            a.id, account, a.msg_id, a.endpoint_id, a.url, a.status, a.response_status_code,
            a.response, a.duration_ms, a.trigger_type, a.timestamp
        ],
    )?;
    Ok(a)
}

#[async_trait]
impl StreamStore for SqliteStore {
    fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        SqliteStore::commits(self)
    }

    async fn messages_after(
        &self,
        account_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Message>> {
        self.read(move |tx| messages_after(tx, account_id, after, limit))
            .await
    }

    async fn last_message_seq(&self, account_id: i64) -> Result<i64> {
        self.read(move |tx| {
            Ok(tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE account_id = ?1",
                [account_id],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn mark_listen_endpoint(&self, account_id: i64, endpoint_id: &str) -> Result<()> {
        let id = endpoint_id.to_owned();
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE endpoints SET disabled = 1, disabled_reason = ?3
                 WHERE account_id = ?1 AND id = ?2 AND operational = 0",
                params![account_id, id, LISTEN_REASON],
            )?;
            if n == 0 {
                return Err(Error::not_found());
            }
            Ok(())
        })
        .await
    }

    async fn record_forwarded(&self, account_id: i64, f: Forwarded) -> Result<Attempt> {
        self.write(move |tx| record(tx, account_id, &f)).await
    }
}
