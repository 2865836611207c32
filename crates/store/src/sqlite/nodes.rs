//! [`NodeStore`] for SQLite. One node owns a SQLite file, so the list holds only it; the
//! same table keeps the two backends alike (and a restarted node simply renews its entry).

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::nodes::{NodeStore, FORGET_AFTER_MS};
use crate::Result;

#[async_trait]
impl NodeStore for SqliteStore {
    async fn heartbeat_node(&self, node: &str, now: i64, expires_at: i64) -> Result<Vec<String>> {
        let node = node.to_owned();
        // Bookkeeping, like claims: losing it in a power cut costs nothing.
        self.write_relaxed(move |tx| {
            tx.execute(
                "INSERT INTO worker_nodes (id, seen_at, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET seen_at = ?2, expires_at = ?3",
                params![node, now, expires_at],
            )?;
            tx.execute(
                "DELETE FROM worker_nodes WHERE expires_at < ?1",
                params![now - FORGET_AFTER_MS],
            )?;
            let mut stmt =
                tx.prepare("SELECT id FROM worker_nodes WHERE expires_at > ?1 ORDER BY id")?;
            let live = stmt
                .query_map(params![now], |r| r.get::<_, String>(0))?
                .collect::<std::result::Result<Vec<String>, _>>()?;
            Ok(live)
        })
        .await
    }

    async fn leave_node(&self, node: &str) -> Result<()> {
        let node = node.to_owned();
        self.write_relaxed(move |tx| {
            tx.execute("DELETE FROM worker_nodes WHERE id = ?1", params![node])?;
            Ok(())
        })
        .await
    }
}
