-- Svix message lifecycle (issue 10): tags (a JSON list, filtered on), payload expunge (when it
-- happened; the payload is then replaced), per-message payload retention (when the payload
-- expires), and indexes for the retention sweep, which deletes by age in bounded batches.
ALTER TABLE messages ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN expunged_ms INTEGER;
ALTER TABLE messages ADD COLUMN payload_expire_ms INTEGER;
CREATE INDEX messages_created ON messages(created_ms);
CREATE INDEX messages_payload_expire ON messages(payload_expire_ms)
    WHERE payload_expire_ms IS NOT NULL AND expunged_ms IS NULL;
CREATE INDEX events_created ON events(created_at);
CREATE INDEX idempotency_created ON idempotency(created_ms);
