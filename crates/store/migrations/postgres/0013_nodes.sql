-- Live worker nodes (see datahooks_store::nodes): a heartbeat keeps a node's lease, and nodes
-- split each endpoint's learned concurrency limit between the live ones.
CREATE TABLE worker_nodes (
    id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
