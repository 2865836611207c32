//! What SQLite keeps of [`crate::lifecycle::LifecycleStore`] (the rest is written once, in
//! `crate::shared::lifecycle`): a message with its extras goes through SQLite's own insert
//! (`crate::sqlite::queue`), as PostgreSQL's goes through its group commit
//! (`crate::postgres::ingest`).

use rusqlite::params;

use super::{new_id, queue, SqliteStore};
use crate::lifecycle::{MessageExtras, SET_EXTRAS};
use crate::opwh::Kind;
use crate::webhooks::{Message, NewMessage};
use crate::Result;

impl SqliteStore {
    /// Inserts an API message with its extras (and its deliveries) in one write, which the
    /// writer group-commits with the other writes waiting: SQLite's `PgStore::ingest`.
    pub(crate) async fn ingest(
        &self,
        account_id: i64,
        msg: NewMessage,
        extras: MessageExtras,
    ) -> Result<Message> {
        let tags = serde_json::to_string(&extras.tags)?;
        self.write(move |tx| {
            let mut m = queue::insert_message_of(
                tx,
                Kind::App,
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
}
