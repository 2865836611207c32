-- Messages sent to one endpoint only (send-example) are not replayed to others.
ALTER TABLE messages ADD COLUMN only_endpoint TEXT;
