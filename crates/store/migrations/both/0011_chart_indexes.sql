-- The pages' charts read attempts by account or endpoint over the last days.
CREATE INDEX attempts_account_time ON attempts(account_id, timestamp);
CREATE INDEX attempts_endpoint_time ON attempts(endpoint_id, timestamp);
