-- Custom event types: what an account adds beyond the 11 platform events (Svix's event-type
-- API), with their JSON schemas. Deleting one through the API archives it (archived = true).
CREATE TABLE event_types (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    deprecated BOOLEAN NOT NULL DEFAULT FALSE,
    schemas TEXT,
    group_name TEXT,
    feature_flags TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- App portal sign-in links (Svix's app-portal-access): a random token, only its SHA-256 kept,
-- for the Manage webhooks page of one account, opened by an API key (revoking the key ends
-- it). Web sessions it opens name it, so logout and expire-all end them too.
CREATE TABLE portal_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    session_id TEXT,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX portal_tokens_account ON portal_tokens (account_id);
ALTER TABLE web_sessions ADD COLUMN portal_token TEXT REFERENCES portal_tokens(token_hash) ON DELETE CASCADE;
CREATE INDEX web_sessions_portal ON web_sessions (portal_token);
