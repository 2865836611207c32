//! [`LifecycleStore`] for PostgreSQL: the shared SQL from `crate::lifecycle`.

use async_trait::async_trait;

use super::{exec, now_ms, queue, rows, write_tx, PgStore, Tx};
use crate::charts::since_text;
use crate::lifecycle::{
    cancel_deliveries_sql, delete_message_sql, old_messages_sql, LifecycleStore, MessageExtras,
    SweepReport, DELETE_ATTEMPTS, DELETE_EVENTS, DELETE_IDEMPOTENCY, EXPIRED_PAYLOAD,
    EXPIRED_PAYLOADS, EXPUNGED_RESPONSE, EXPUNGE_ATTEMPT, EXPUNGE_PAYLOAD,
};
use crate::webhooks::{Message, NewMessage};
use crate::{Error, Result};

/// Expunges one message's payload (by its id) and cancels what it still had to send.
async fn expunge(tx: &Tx<'_>, id: &str, now: i64) -> Result<u64> {
    let canceled = exec(tx, &cancel_deliveries_sql(), &[&id]).await?;
    exec(tx, EXPUNGE_PAYLOAD, &[&EXPIRED_PAYLOAD, &now, &id]).await?;
    Ok(canceled)
}

async fn ids(tx: &Tx<'_>, sql: &str, a: i64, b: i64) -> Result<Vec<String>> {
    rows(tx, sql, &[&a, &b])
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

async fn sweep_in(
    tx: &Tx<'_>,
    now: i64,
    cutoff: Option<&(i64, String)>,
    batch: i64,
) -> Result<SweepReport> {
    let mut r = SweepReport::default();
    for id in ids(tx, EXPIRED_PAYLOADS, now, batch).await? {
        expunge(tx, &id, now).await?;
        r.payloads_expired += 1;
    }
    let Some((cut_ms, cut_text)) = cutoff else {
        return Ok(r);
    };
    for id in ids(tx, &old_messages_sql(), *cut_ms, batch).await? {
        if exec(tx, &delete_message_sql(), &[&id]).await? == 1 {
            r.messages += 1;
            r.attempts += exec(tx, DELETE_ATTEMPTS, &[&id]).await?;
        }
    }
    r.events = exec(tx, DELETE_EVENTS, &[cut_text, &batch]).await?;
    r.idempotency = exec(tx, DELETE_IDEMPOTENCY, &[cut_ms, &batch]).await?;
    Ok(r)
}

#[async_trait]
impl LifecycleStore for PgStore {
    async fn create_message_with(
        &self,
        account_id: i64,
        msg: NewMessage,
        extras: MessageExtras,
    ) -> Result<Message> {
        // Group-committed with the other messages arriving meanwhile (see ingest.rs).
        self.ingest(account_id, msg, extras).await
    }

    async fn expunge_message(&self, account_id: i64, msg_id: &str) -> Result<u64> {
        write_tx!(self, |tx| async {
            let m = queue::message(&tx, account_id, msg_id).await?;
            expunge(&tx, &m.id, now_ms()).await
        }
        .await)
    }

    async fn expunge_attempt(&self, account_id: i64, msg_id: &str, attempt_id: &str) -> Result<()> {
        write_tx!(self, |tx| async {
            let m = queue::message(&tx, account_id, msg_id).await?;
            let n = exec(
                &tx,
                EXPUNGE_ATTEMPT,
                &[&EXPUNGED_RESPONSE, &account_id, &m.id, &attempt_id],
            )
            .await?;
            if n == 0 {
                return Err(Error::not_found());
            }
            Ok(())
        }
        .await)
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
        write_tx!(self, |tx| sweep_in(&tx, now_ms, cutoff.as_ref(), batch)
            .await)
    }
}
