//! [`StreamStore`] for PostgreSQL: `crate::shared::stream` in a transaction.

use async_trait::async_trait;

use super::db::Pg;
use super::{read_tx, write_tx, PgStore};
use crate::shared::stream;
use crate::stream::{Forwarded, StreamStore};
use crate::webhooks::{Attempt, Message};
use crate::Result;

#[async_trait]
impl StreamStore for PgStore {
    fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        PgStore::commits(self)
    }

    async fn messages_after(&self, account: i64, after: i64, limit: i64) -> Result<Vec<Message>> {
        read_tx!(self, |tx| {
            let db = Pg(&tx);
            stream::messages_after(&db, account, after, limit).await
        })
    }

    async fn last_message_seq(&self, account_id: i64) -> Result<i64> {
        read_tx!(self, |tx| stream::last_message_seq(&Pg(&tx), account_id)
            .await)
    }

    async fn mark_listen_endpoint(&self, account_id: i64, endpoint_id: &str) -> Result<()> {
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            stream::mark_listen_endpoint(&db, account_id, endpoint_id).await
        })
    }

    async fn record_forwarded(&self, account_id: i64, f: Forwarded) -> Result<Attempt> {
        write_tx!(self, |tx| stream::record(&Pg(&tx), account_id, &f).await)
    }
}
