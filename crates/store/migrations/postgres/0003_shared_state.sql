-- State every node must see the same: idempotency keys and background tasks.
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    status BIGINT NOT NULL,           -- 0 while the first request is still running
    body BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX idempotency_created ON idempotency(created_ms);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    record TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX tasks_account ON tasks(account_id, updated_ms);
