//! [`NodeStore`] for PostgreSQL: the live worker nodes sharing the database.

use async_trait::async_trait;

use super::{exec, rows, write_tx, PgStore};
use crate::nodes::{NodeStore, FORGET_AFTER_MS};
use crate::Result;

#[async_trait]
impl NodeStore for PgStore {
    async fn heartbeat_node(&self, node: &str, now: i64, expires_at: i64) -> Result<Vec<String>> {
        write_tx!(self, |tx| async {
            exec(
                &tx,
                "INSERT INTO worker_nodes (id, seen_at, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET seen_at = $2, expires_at = $3",
                &[&node, &now, &expires_at],
            )
            .await?;
            exec(
                &tx,
                "DELETE FROM worker_nodes WHERE expires_at < $1",
                &[&(now - FORGET_AFTER_MS)],
            )
            .await?;
            let live = rows(
                &tx,
                "SELECT id FROM worker_nodes WHERE expires_at > $1 ORDER BY id",
                &[&now],
            )
            .await?;
            live.iter()
                .map(|r| r.try_get::<_, String>(0).map_err(crate::Error::from))
                .collect::<Result<Vec<String>>>()
        }
        .await)
    }

    async fn leave_node(&self, node: &str) -> Result<()> {
        write_tx!(self, |tx| async {
            exec(&tx, "DELETE FROM worker_nodes WHERE id = $1", &[&node]).await?;
            Ok::<_, crate::Error>(())
        }
        .await)
    }
}
