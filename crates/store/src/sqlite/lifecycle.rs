//! [`LifecycleStore`] for SQLite: `crate::shared::lifecycle`, and the message insert with
//! extras (the insert is still per backend).

use async_trait::async_trait;
use rusqlite::params;

use super::db::Lite;
use super::{new_id, queue, SqliteStore};
use crate::lifecycle::{LifecycleStore, MessageExtras, SweepReport, SET_EXTRAS};
use crate::shared::lifecycle;
use crate::sql::block_now;
use crate::webhooks::{Message, NewMessage};
use crate::Result;

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
        self.write(move |tx| block_now(lifecycle::expunge_message(&Lite(tx), account_id, &msg_id))?)
            .await
    }

    async fn expunge_attempt(&self, account_id: i64, msg_id: &str, attempt_id: &str) -> Result<()> {
        let (msg_id, attempt_id) = (msg_id.to_owned(), attempt_id.to_owned());
        self.write(move |tx| {
            block_now(lifecycle::expunge_attempt(
                &Lite(tx),
                account_id,
                &msg_id,
                &attempt_id,
            ))?
        })
        .await
    }

    async fn sweep(
        &self,
        now_ms: i64,
        retention_ms: Option<i64>,
        batch: i64,
    ) -> Result<SweepReport> {
        self.write(move |tx| block_now(lifecycle::sweep(&Lite(tx), now_ms, retention_ms, batch))?)
            .await
    }
}
