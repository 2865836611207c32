-- datahooks schema, SQLite. Append-only: change it with a new numbered file.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    is_org INTEGER NOT NULL,
    email TEXT,
    created_at TEXT NOT NULL,
    webhooks_enabled INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE org_members (
    org_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

-- Keys are stored as SHA-256 hashes: they are 256-bit random tokens, so a slow hash adds nothing.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE datasets (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    cloned_from TEXT,
    public INTEGER NOT NULL,
    settings TEXT NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE collaborators (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (dataset_id, user_id)
);

CREATE TABLE labelsets (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (dataset_id, name)
);

CREATE TABLE samples (
    uuid TEXT PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    attributes TEXT,
    metadata TEXT NOT NULL,
    priority REAL NOT NULL,
    readme TEXT NOT NULL,
    assigned_labeler TEXT,
    assigned_reviewer TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (dataset_id, name)
);

CREATE TABLE labels (
    sample_uuid TEXT NOT NULL REFERENCES samples(uuid) ON DELETE CASCADE,
    labelset TEXT NOT NULL,
    label_status TEXT NOT NULL,
    attributes TEXT,
    score REAL,
    rating REAL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    reviewed_at TEXT,
    reviewed_by TEXT,
    PRIMARY KEY (sample_uuid, labelset)
);

CREATE TABLE issues (
    uuid TEXT PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    sample_uuid TEXT NOT NULL REFERENCES samples(uuid) ON DELETE CASCADE,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    anchor TEXT,
    comments TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX issues_dataset ON issues(dataset_id);

CREATE TABLE releases (
    uuid TEXT PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    samples_count INTEGER NOT NULL,
    url TEXT,
    token TEXT UNIQUE,
    content TEXT,
    UNIQUE (dataset_id, name)
);

CREATE TABLE assets (
    uuid TEXT PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES accounts(id),
    filename TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The outbox: one row per change, written in the change's transaction.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    dataset TEXT NOT NULL,
    owner TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    uid TEXT,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_types TEXT,
    channels TEXT,
    disabled INTEGER NOT NULL,
    disabled_reason TEXT,
    throttle_rate INTEGER,
    metadata TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    secret TEXT NOT NULL,
    old_secrets TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    first_failure_at INTEGER,
    UNIQUE (account_id, uid)
);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_id TEXT,
    channels TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (account_id, event_id)
);
CREATE INDEX messages_account ON messages(account_id, seq);

-- The durable delivery queue: status 1 pending (due at next_attempt_at), 3 sending (leased
-- until lease_until), 0 success, 2 fail.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    trigger_type INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    created_ms INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 1;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE status = 3;
CREATE INDEX deliveries_msg ON deliveries(msg_id);
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, status);

CREATE TABLE attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL,
    msg_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    trigger_type INTEGER NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, seq);
