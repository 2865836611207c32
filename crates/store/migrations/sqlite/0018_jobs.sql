-- Background jobs (recover, replay-missing, release builds, the failing-endpoint sweep) as
-- leased rows, so they survive a crash and any node finishes them. Rules: domain::jobs.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                 -- domain::jobs::JobKind
    args TEXT NOT NULL,                 -- JSON
    singleton TEXT,                     -- at most one queued or running job per key
    status INTEGER NOT NULL,            -- 0 queued, 1 running, 2 succeeded, 3 failed
    run_at INTEGER NOT NULL,            -- due (unix ms) while queued
    lease_node TEXT,                    -- the node running it
    lease_until INTEGER,                -- while running: any node may take it after this
    attempts INTEGER NOT NULL DEFAULT 0, -- claims so far (this run)
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    result TEXT,                        -- JSON, once succeeded
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(run_at) WHERE status = 0;
CREATE INDEX jobs_leased ON jobs(lease_until) WHERE status = 1;
CREATE UNIQUE INDEX jobs_singleton ON jobs(singleton) WHERE status IN (0, 1);

-- Releases a previous version left pending were built by a task at start-up; now a job does.
INSERT INTO jobs (kind, args, status, run_at, max_attempts, created_ms, updated_ms)
SELECT 'release.build', '{"release":"' || uuid || '"}', 0, 0, 5, 0, 0
FROM releases WHERE status = 'PENDING';
