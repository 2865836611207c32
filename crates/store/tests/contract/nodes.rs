//! The registry of live worker nodes: heartbeats renew a node's lease, the live list is
//! sorted and leaves out expired and departed nodes.

use std::sync::Arc;

use datahooks_store::Store;

const T: i64 = 1_800_000_000_000;

pub async fn heartbeats_list_the_live_nodes_sorted(store: Arc<dyn Store>) {
    let live = store.heartbeat_node("node-b", T, T + 10_000).await.unwrap();
    assert_eq!(live, ["node-b"]);
    let live = store
        .heartbeat_node("node-a", T + 1, T + 10_001)
        .await
        .unwrap();
    assert_eq!(live, ["node-a", "node-b"]);
    let live = store
        .heartbeat_node("node-c", T + 2, T + 10_002)
        .await
        .unwrap();
    assert_eq!(live, ["node-a", "node-b", "node-c"]);
    // A renewed heartbeat is the same node, not a new one.
    let live = store
        .heartbeat_node("node-a", T + 5_000, T + 15_000)
        .await
        .unwrap();
    assert_eq!(live, ["node-a", "node-b", "node-c"]);
}

pub async fn a_node_whose_lease_ran_out_or_that_left_is_not_live(store: Arc<dyn Store>) {
    store.heartbeat_node("node-a", T, T + 10_000).await.unwrap();
    store.heartbeat_node("node-b", T, T + 10_000).await.unwrap();
    store.heartbeat_node("node-c", T, T + 10_000).await.unwrap();
    // node-c stops gracefully: gone at once.
    store.leave_node("node-c").await.unwrap();
    let live = store
        .heartbeat_node("node-a", T + 1, T + 20_000)
        .await
        .unwrap();
    assert_eq!(live, ["node-a", "node-b"]);
    // node-b dies: gone when its lease runs out, while node-a keeps renewing.
    let live = store
        .heartbeat_node("node-a", T + 10_000, T + 30_000)
        .await
        .unwrap();
    assert_eq!(live, ["node-a"]);
    // Leaving twice, or a node never seen, is no error.
    store.leave_node("node-c").await.unwrap();
    store.leave_node("nobody").await.unwrap();
    // A node back after dying renews its own entry.
    let live = store
        .heartbeat_node("node-b", T + 10_001, T + 30_000)
        .await
        .unwrap();
    assert_eq!(live, ["node-a", "node-b"]);
}
