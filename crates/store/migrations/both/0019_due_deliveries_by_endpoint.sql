-- Due deliveries, indexed with their endpoint: a claim and the worker's "when is the next one
-- due" pass over the endpoints at their limit (`NOT IN skip`). With only `next_attempt_at` in
-- the index, each due row passed over cost a table lookup to read its endpoint: a backlog of
-- 100,000 due deliveries for one busy endpoint made every claim walk 100,000 rows.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, endpoint_id) WHERE status = 1;
