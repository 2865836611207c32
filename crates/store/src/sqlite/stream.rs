//! [`StreamStore`] for SQLite: `crate::shared::stream` on the store's threads.

use async_trait::async_trait;

use super::db::Lite;
use super::SqliteStore;
use crate::shared::stream;
use crate::sql::block_now;
use crate::stream::{Forwarded, StreamStore};
use crate::webhooks::{Attempt, Message};
use crate::Result;

#[async_trait]
impl StreamStore for SqliteStore {
    fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        SqliteStore::commits(self)
    }

    async fn messages_after(&self, account: i64, after: i64, limit: i64) -> Result<Vec<Message>> {
        self.read(move |tx| block_now(stream::messages_after(&Lite(tx), account, after, limit))?)
            .await
    }

    async fn last_message_seq(&self, account_id: i64) -> Result<i64> {
        self.read(move |tx| block_now(stream::last_message_seq(&Lite(tx), account_id))?)
            .await
    }

    async fn mark_listen_endpoint(&self, account_id: i64, endpoint_id: &str) -> Result<()> {
        let id = endpoint_id.to_owned();
        self.write(move |tx| block_now(stream::mark_listen_endpoint(&Lite(tx), account_id, &id))?)
            .await
    }

    async fn record_forwarded(&self, account_id: i64, f: Forwarded) -> Result<Attempt> {
        self.write(move |tx| block_now(stream::record(&Lite(tx), account_id, &f))?)
            .await
    }
}
