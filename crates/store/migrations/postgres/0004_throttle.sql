-- The next time (unix ms) a throttled endpoint may be sent to, shared by every node.
ALTER TABLE endpoints ADD COLUMN throttle_next_ms BIGINT;
