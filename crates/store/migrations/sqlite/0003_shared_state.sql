-- State every node must see the same: idempotency keys and background tasks.
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    status INTEGER NOT NULL,          -- 0 while the first request is still running
    body BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    record TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX tasks_account ON tasks(account_id, updated_ms);
