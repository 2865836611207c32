-- One-time links that create the first user (see store/src/setup.rs). Only the SHA-256 of
-- the token is kept, like API keys.
CREATE TABLE setup_links (
    hash TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER
);
