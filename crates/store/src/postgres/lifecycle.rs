//! [`LifecycleStore`] for PostgreSQL: `crate::shared::lifecycle`, and messages with extras
//! through the group commit (`super::ingest`).

use async_trait::async_trait;

use super::db::Pg;
use super::{write_tx, PgStore};
use crate::lifecycle::{LifecycleStore, MessageExtras, SweepReport};
use crate::shared::lifecycle;
use crate::webhooks::{Message, NewMessage};
use crate::Result;

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
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            lifecycle::expunge_message(&db, account_id, msg_id).await
        })
    }

    async fn expunge_attempt(&self, account_id: i64, msg_id: &str, attempt_id: &str) -> Result<()> {
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            lifecycle::expunge_attempt(&db, account_id, msg_id, attempt_id).await
        })
    }

    async fn sweep(
        &self,
        now_ms: i64,
        retention_ms: Option<i64>,
        batch: i64,
    ) -> Result<SweepReport> {
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            lifecycle::sweep(&db, now_ms, retention_ms, batch).await
        })
    }
}
