-- The delivery pace the workers learned for each endpoint (see datahooks_webhooks::pace),
-- saved so every node and the API see it: open / paused / down / probing, until when, the
-- concurrency limit, the send rate learned from 429s and the recent delivery rate.
ALTER TABLE endpoints ADD COLUMN pace_state TEXT;
ALTER TABLE endpoints ADD COLUMN pace_until BIGINT;
ALTER TABLE endpoints ADD COLUMN pace_limit BIGINT;
ALTER TABLE endpoints ADD COLUMN pace_rate_cap DOUBLE PRECISION;
ALTER TABLE endpoints ADD COLUMN pace_recent_rate DOUBLE PRECISION;
ALTER TABLE endpoints ADD COLUMN pace_updated_at BIGINT;
