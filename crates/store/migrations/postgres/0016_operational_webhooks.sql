-- Operational webhooks (issue 10): an account's operational endpoints are endpoints rows with
-- operational = TRUE, and the events sent to them are messages with operational = TRUE. The
-- same deliveries, attempts, worker and failure clock serve both kinds; the flags keep them out
-- of the application's own endpoint and message lists, fan-out and replays.
ALTER TABLE endpoints ADD COLUMN operational BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN operational BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX endpoints_operational ON endpoints(account_id) WHERE operational;
