//! The registry of live worker nodes: each worker writes a heartbeat with a lease, and reads
//! back who else is alive, so that nodes can split what belongs to an endpoint as a whole
//! (its learned concurrency limit) instead of each taking all of it. A node that stops
//! gracefully leaves at once; one that dies drops out when its lease runs out.

use async_trait::async_trait;

use crate::Result;

/// What the worker nodes need to know of each other.
#[async_trait]
pub trait NodeStore: Send + Sync {
    /// Marks `node` alive until `expires_at` (unix ms) and returns the names of every node
    /// alive at `now`, this one included, sorted. Entries long expired are removed.
    async fn heartbeat_node(&self, node: &str, now: i64, expires_at: i64) -> Result<Vec<String>>;

    /// Removes `node` from the live nodes (a graceful stop).
    async fn leave_node(&self, node: &str) -> Result<()>;
}

/// Entries whose lease ran out this long ago (ms) are deleted by the next heartbeat.
pub(crate) const FORGET_AFTER_MS: i64 = 3_600_000;
