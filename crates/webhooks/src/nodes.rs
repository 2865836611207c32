//! The worker's heartbeat in the node registry ([`NodeStore`]): every [`HEARTBEAT`] it renews
//! this node's lease and reads who else is alive, and gives the pace this node's [`Share`]
//! of each endpoint's limit. On a graceful stop the node leaves the registry, so the others
//! take its share at their next heartbeat; a node that dies drops out after [`NODE_LEASE`].
//!
//! While the view is being corrected (a node joined or left since the last heartbeat) the
//! nodes' shares can add up to more, or less, than an endpoint's limit for at most one
//! heartbeat (two when a node dies: until its lease runs out). A node that cannot reach the
//! store keeps the share it last had.

use std::time::Duration;

use datahooks_store::NodeStore;
use tokio_util::sync::CancellationToken;

use crate::pace::Share;

/// How often a worker renews its entry and re-reads the live nodes.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long an entry stays live without a renewal: three heartbeats, so one slow or lost
/// write does not make a node drop out.
pub const NODE_LEASE: Duration = Duration::from_secs(6);

/// Renews `node`'s entry at `now` (unix ms) and returns its share, or `None` if the store
/// could not be reached.
pub async fn beat(store: &dyn NodeStore, node: &str, now: i64) -> Option<Share> {
    let expires = now + NODE_LEASE.as_millis() as i64;
    match store.heartbeat_node(node, now, expires).await {
        Ok(live) => Some(Share::among(&live, node)),
        Err(e) => {
            tracing::warn!(error = %e, node, "could not renew this node's heartbeat");
            None
        }
    }
}

/// Beats every [`HEARTBEAT`] until `cancel`, handing each new share to `apply`; then leaves.
pub async fn run(
    store: &dyn NodeStore,
    node: &str,
    now_ms: impl Fn() -> i64,
    apply: impl Fn(Share),
    cancel: CancellationToken,
) {
    let mut last: Option<Share> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = cancel.cancelled() => break,
        }
        if let Some(share) = beat(store, node, now_ms()).await {
            if last != Some(share) {
                tracing::info!(
                    node,
                    live_nodes = share.nodes,
                    rank = share.rank,
                    "worker nodes changed: this node now sends its share of each endpoint's limit"
                );
                last = Some(share);
            }
            apply(share);
        }
    }
    if let Err(e) = store.leave_node(node).await {
        tracing::debug!(error = %e, node, "could not leave the node registry");
    }
}
