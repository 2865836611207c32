-- datahooks schema, PostgreSQL. Append-only: change it with a new numbered file.
--
-- The same tables and columns as migrations/sqlite/0001_init.sql, so both backends hand out
-- byte-identical values:
-- * timestamps stay TEXT in the API format (`2021-08-09T14:40:19.987691+00:00`) and unix-ms
--   BIGINTs, exactly as SQLite keeps them; the fixed-width format sorts by time as text;
-- * JSON stays TEXT: a payload is signed byte for byte, and JSONB would re-space and reorder
--   what it stores. The one JSON query (sample metadata) casts to JSONB where it reads;
-- * text that is sorted or range-compared is COLLATE "C", which orders by bytes as SQLite's
--   BINARY collation does, whatever locale the database was created with.

CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    is_org BOOLEAN NOT NULL,
    email TEXT,
    created_at TEXT COLLATE "C" NOT NULL,
    webhooks_enabled BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE org_members (
    org_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

-- Keys are stored as SHA-256 hashes: they are 256-bit random tokens, so a slow hash adds nothing.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE datasets (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES accounts(id),
    name TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    cloned_from TEXT,
    public BOOLEAN NOT NULL,
    settings TEXT NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE collaborators (
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (dataset_id, user_id)
);

CREATE TABLE labelsets (
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (dataset_id, name)
);

CREATE TABLE samples (
    uuid TEXT COLLATE "C" PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    attributes TEXT,
    metadata TEXT NOT NULL,
    priority DOUBLE PRECISION NOT NULL,
    readme TEXT NOT NULL,
    assigned_labeler TEXT,
    assigned_reviewer TEXT,
    created_at TEXT COLLATE "C" NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    UNIQUE (dataset_id, name)
);

CREATE TABLE labels (
    sample_uuid TEXT COLLATE "C" NOT NULL REFERENCES samples(uuid) ON DELETE CASCADE,
    labelset TEXT COLLATE "C" NOT NULL,
    label_status TEXT NOT NULL,
    attributes TEXT,
    score DOUBLE PRECISION,
    rating DOUBLE PRECISION,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    updated_by TEXT,
    reviewed_at TEXT,
    reviewed_by TEXT,
    PRIMARY KEY (sample_uuid, labelset)
);

CREATE TABLE issues (
    uuid TEXT COLLATE "C" PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    sample_uuid TEXT COLLATE "C" NOT NULL REFERENCES samples(uuid) ON DELETE CASCADE,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    anchor TEXT,
    comments TEXT NOT NULL DEFAULT '[]',
    created_at TEXT COLLATE "C" NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX issues_dataset ON issues(dataset_id);
-- PostgreSQL does not index the referencing side of a foreign key; cascades need these.
CREATE INDEX issues_sample ON issues(sample_uuid);

CREATE TABLE releases (
    uuid TEXT PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    samples_count BIGINT NOT NULL,
    url TEXT,
    token TEXT UNIQUE,
    content TEXT,
    UNIQUE (dataset_id, name)
);

CREATE TABLE assets (
    uuid TEXT PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES accounts(id),
    filename TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The outbox: one row per change, written in the change's transaction. Writers take a
-- transaction-level advisory lock before inserting here (see postgres/outbox.rs), so `seq`
-- order is commit order, as it is with SQLite's single writer.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    dataset TEXT NOT NULL,
    owner TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- `seq` is creation order (SQLite's rowid): endpoints are listed, paged and fanned out to
-- oldest first.
CREATE TABLE endpoints (
    id TEXT COLLATE "C" PRIMARY KEY,
    seq BIGSERIAL NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    uid TEXT,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    version BIGINT NOT NULL,
    event_types TEXT,
    channels TEXT,
    disabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    throttle_rate BIGINT,
    metadata TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    secret TEXT NOT NULL,
    old_secrets TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    first_failure_at BIGINT,
    UNIQUE (account_id, uid)
);

CREATE TABLE messages (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_id TEXT,
    channels TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (account_id, event_id)
);
CREATE INDEX messages_account ON messages(account_id, seq);

-- The durable delivery queue: status 1 pending (due at next_attempt_at), 3 sending (leased
-- until lease_until), 0 success, 2 fail. Workers claim with FOR UPDATE SKIP LOCKED.
CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    trigger_type BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 1;
CREATE INDEX deliveries_leased ON deliveries(lease_until) WHERE status = 3;
CREATE INDEX deliveries_msg ON deliveries(msg_id);
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, status);

CREATE TABLE attempts (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL,
    msg_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status BIGINT NOT NULL,
    response_status_code BIGINT NOT NULL,
    response TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    trigger_type BIGINT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, seq);

-- SQLite's `CAST(json_extract(doc, path) AS TEXT)`, which the sample metadata filter compares
-- with: strings unquoted, true/false as 1/0, null as NULL, anything else as its JSON text.
CREATE FUNCTION datahooks_json_text(v JSONB) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(v)
        WHEN 'string' THEN v #>> '{}'
        WHEN 'boolean' THEN CASE WHEN v = 'true'::jsonb THEN '1' ELSE '0' END
        WHEN 'null' THEN NULL
        ELSE v::text
    END
$$;

-- SQLite's LIKE folds ASCII letters only; this folds the same letters, so `lower_ascii(x)
-- LIKE lower_ascii(pattern)` matches exactly what SQLite's LIKE matches.
CREATE FUNCTION datahooks_lower_ascii(s TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;
