-- The size of an asset's uploaded file (NULL until uploaded), for the per-account quota.
ALTER TABLE assets ADD COLUMN size INTEGER;
CREATE INDEX assets_owner ON assets (owner_id);
