-- What a Svix client sets on an application beyond its uid (the account name): a display name,
-- throttleRate and metadata. One row per account once set; absent means the defaults.
CREATE TABLE app_settings (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    throttle_rate BIGINT,
    metadata TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
