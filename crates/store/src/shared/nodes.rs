//! The registry of live worker nodes (`crate::nodes`), one text for both backends. On SQLite
//! one node owns the file, so the list holds only it; the same table keeps the backends alike
//! (and a restarted node simply renews its entry).

use crate::nodes::FORGET_AFTER_MS;
use crate::sql::{Cols, Db};
use crate::Result;

/// Marks `node` alive until `expires_at`, forgets entries long expired, and returns the nodes
/// alive at `now`, sorted.
pub(crate) async fn heartbeat(
    db: &impl Db,
    node: &str,
    now: i64,
    expires_at: i64,
) -> Result<Vec<String>> {
    db.exec(
        "INSERT INTO worker_nodes (id, seen_at, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET seen_at = $2, expires_at = $3",
        &[&node, &now, &expires_at],
    )
    .await?;
    db.exec(
        "DELETE FROM worker_nodes WHERE expires_at < $1",
        &[&(now - FORGET_AFTER_MS)],
    )
    .await?;
    db.rows(
        "SELECT id FROM worker_nodes WHERE expires_at > $1 ORDER BY id",
        &[&now],
        |r| r.get("id"),
    )
    .await
}

/// Removes `node` from the live nodes.
pub(crate) async fn leave(db: &impl Db, node: &str) -> Result<()> {
    db.exec("DELETE FROM worker_nodes WHERE id = $1", &[&node])
        .await?;
    Ok(())
}

// Heartbeats are bookkeeping, like claims: losing one in a power cut costs nothing, so SQLite
// commits them relaxed.
crate::both::on_both! {
    impl crate::nodes::NodeStore;
    relaxed fn heartbeat_node(node: &str, now: i64, expires_at: i64) -> Result<Vec<String>> =
        |db| heartbeat(db, node, now, expires_at);
    relaxed fn leave_node(node: &str) -> Result<()> = |db| leave(db, node);
}
