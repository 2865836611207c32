-- Operational webhooks (issue 10): an account's operational endpoints are endpoints rows with
-- operational = 1, and the events sent to them are messages with operational = 1. The same
-- deliveries, attempts, worker and failure clock serve both kinds; the flags keep them out of
-- the application's own endpoint and message lists, fan-out and replays.
ALTER TABLE endpoints ADD COLUMN operational INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN operational INTEGER NOT NULL DEFAULT 0;
CREATE INDEX endpoints_operational ON endpoints(account_id) WHERE operational = 1;
