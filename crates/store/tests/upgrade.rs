#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Upgrades: the current migrations applied to a database the previous schema filled.
//!
//! For each backend: apply migrations 1..N-1 (the previous release's schema) from the files
//! in `migrations/`, insert representative data with the previous release's plain SQL (an
//! account with an API key, a dataset, a sample with its label, an outbox event, an endpoint,
//! a message and its pending delivery), then open the store, which applies the rest, and
//! read everything back through the `Store` API. Then the rolling-upgrade rule: the previous
//! release's SQL still writes to the new schema (it runs beside the new one), and what it
//! writes reads back through the new store. Finally a binary that knows fewer migrations than
//! the database has refuses to open it.
//!
//! PostgreSQL runs when `DATAHOOKS_TEST_PG_URL` is set (`scripts/with-postgres.sh`).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use datahooks_domain::settings::DatasetSettings;
use datahooks_store::{Page, SampleQuery, SampleSort, Store};

const TS: &str = "2025-01-01T00:00:00.000000+00:00";
const USER: &str = "olduser";
const KEY: &str =
    "dh_0123456789ab_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The migrations of a backend, in order: its own files and the shared ones
/// (`migrations/both`), by file name, as `build.rs` lists them.
fn migrations(backend: &str) -> Vec<String> {
    migrations_before(backend, "9999")
}

/// [`migrations`] whose file names sort before `name`.
fn migrations_before(backend: &str, name: &str) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<PathBuf> = [backend, "both"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .filter(|p| p.file_name().unwrap().to_string_lossy().as_ref() < name)
        .collect();
    files.sort_by_key(|p| p.file_name().unwrap().to_owned());
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// What the previous release writes: SQL against the columns of migration 0001 (later
/// migrations only add, with defaults, so it stays valid on every later schema). Literals
/// only (TRUE/FALSE read as 1/0 in SQLite), so one text serves both backends. `n` tells the
/// rows of one call apart.
fn old_release_writes(n: u32) -> String {
    let ms = chrono::Utc::now().timestamp_millis() - 1000;
    let settings = serde_json::to_string(&DatasetSettings::default()).unwrap();
    let ds = format!(
        "(SELECT d.id FROM datasets d JOIN accounts a ON a.id = d.owner_id \
         WHERE a.name = '{USER}' AND d.name = 'flowers')"
    );
    let acc = format!("(SELECT id FROM accounts WHERE name = '{USER}')");
    let uuid = format!("00000000-0000-4000-8000-00000000000{n}");
    let payload = format!(
        r#"{{"event_type":"sample.created","dataset":"{USER}/flowers","object":{{"uuid":"{uuid}"}}}}"#
    );
    let mut sql = String::new();
    if n == 1 {
        sql.push_str(&format!(
            "INSERT INTO accounts (name, is_org, email, created_at, webhooks_enabled)
                 VALUES ('{USER}', FALSE, '{USER}@example.com', '{TS}', TRUE);
             INSERT INTO api_keys (id, user_id, hash, created_at)
                 VALUES ('0123456789ab', {acc}, '{hash}', '{TS}');
             INSERT INTO datasets (owner_id, name, created_at, cloned_from, public, settings)
                 VALUES ({acc}, 'flowers', '{TS}', NULL, FALSE, '{settings}');
             INSERT INTO labelsets (dataset_id, name, description, created_at)
                 VALUES ({ds}, 'ground-truth', '', '{TS}');
             INSERT INTO endpoints (id, account_id, uid, url, description, version, event_types,
                     channels, disabled, disabled_reason, throttle_rate, metadata, headers, secret,
                     old_secrets, created_at, updated_at, first_failure_at)
                 VALUES ('ep_old', {acc}, 'old-uid', 'https://hooks.example.com/x', 'from the old release',
                     1, '[\"sample.created\"]', NULL, FALSE, NULL, NULL, '{{}}', '{{}}', 'sealed1:AAAA', '[]',
                     '{TS}', '{TS}', NULL);",
            hash = hex::encode(Sha256::digest(KEY.as_bytes())),
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO samples (uuid, dataset_id, name, attributes, metadata, priority, readme,
                 assigned_labeler, assigned_reviewer, created_at, created_by, updated_at)
             VALUES ('{uuid}', {ds}, 'rose-{n}.png', '{{\"image\":{{\"url\":\"https://example.com/rose.png\"}}}}',
                 '{{\"n\":{n}}}', 0, '', NULL, NULL, '{TS}', '{USER}', '{TS}');
         INSERT INTO labels (sample_uuid, labelset, label_status, attributes, score, rating,
                 created_at, created_by, updated_at, updated_by, reviewed_at, reviewed_by)
             VALUES ('{uuid}', 'ground-truth', 'LABELED', '{{\"format_version\":\"0.1\",\"annotations\":[]}}',
                 NULL, NULL, '{TS}', '{USER}', '{TS}', '{USER}', NULL, NULL);
         INSERT INTO events (id, event_type, dataset, owner, payload, created_at)
             VALUES ('evt_old{n}', 'sample.created', '{USER}/flowers', '{USER}', '{payload}', '{TS}');
         INSERT INTO messages (id, account_id, event_type, event_id, channels, payload, created_at, created_ms)
             VALUES ('msg_old{n}', {acc}, 'sample.created', NULL, '[\"{USER}/flowers\"]', '{payload}', '{TS}', {ms});
         INSERT INTO deliveries (msg_id, endpoint_id, status, attempts, trigger_type, next_attempt_at,
                 lease_owner, lease_until, created_ms)
             VALUES ('msg_old{n}', 'ep_old', 1, 0, 0, {ms}, NULL, NULL, {ms});"
    ));
    sql
}

fn query() -> SampleQuery {
    SampleQuery {
        page: Page {
            page: 1,
            per_page: 100,
        },
        labelset: "ground-truth".to_owned(),
        include_label: Some(true),
        name_contains: None,
        metadata: Vec::new(),
        label_status: Vec::new(),
        sort: SampleSort::Name,
        descending: false,
    }
}

/// Reads the old release's rows `1..=n` back through the store API.
async fn reads_back(store: &dyn Store, n: u32) {
    let account = store
        .authenticate(KEY)
        .await
        .unwrap()
        .expect("the old release's API key still authenticates");
    assert_eq!(account.name, USER);
    let (ds, _) = store
        .dataset_access(account.id, USER, "flowers")
        .await
        .unwrap();
    let samples = store.list_samples(&ds, &query()).await.unwrap();
    let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    let want: Vec<String> = (1..=n).map(|i| format!("rose-{i}.png")).collect();
    assert_eq!(names, want.iter().map(String::as_str).collect::<Vec<_>>());
    for s in &samples {
        let label = s.label.as_ref().expect("the old label reads back");
        assert_eq!(label["label_status"], "LABELED", "{label}");
    }
    let events = store.events_after(0, 100).await.unwrap();
    for i in 1..=n {
        assert!(
            events.iter().any(|e| e.id == format!("evt_old{i}")),
            "old event {i} reads back"
        );
    }
    let ep = store.get_endpoint(account.id, "old-uid").await.unwrap();
    assert_eq!(ep.id, "ep_old");
    assert_eq!(ep.url, "https://hooks.example.com/x");
    assert_eq!(ep.event_types, Some(vec!["sample.created".to_owned()]));
    assert_eq!(ep.secret, "sealed1:AAAA");
    let msg = store.get_message(account.id, "msg_old1").await.unwrap();
    assert_eq!(msg.event_type, "sample.created");
}

/// After the upgrade the old pending deliveries are claimed and the new release writes too.
async fn queue_and_new_writes(store: &dyn Store, n: u32) {
    let now = chrono::Utc::now().timestamp_millis();
    let jobs = store
        .claim_due("upgrader", now, now + 60_000, 100)
        .await
        .unwrap();
    let mut msgs: Vec<&str> = jobs.iter().map(|j| j.msg_id.as_str()).collect();
    msgs.sort();
    let want: Vec<String> = (1..=n).map(|i| format!("msg_old{i}")).collect();
    assert_eq!(msgs, want.iter().map(String::as_str).collect::<Vec<_>>());
    let account = store.account(USER).await.unwrap();
    let (ds, _) = store
        .dataset_access(account.id, USER, "flowers")
        .await
        .unwrap();
    let new = datahooks_domain::inputs::NewSample {
        name: "tulip.png".into(),
        attributes: None,
        metadata: Default::default(),
        priority: 0.0,
        readme: String::new(),
        assigned_labeler: None,
        assigned_reviewer: None,
    };
    store
        .create_samples(&ds, vec![new], USER, false)
        .await
        .unwrap();
}

// ---- SQLite ------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_current_migrations_apply_to_a_database_the_previous_schema_filled() {
    let all = migrations("sqlite");
    let n = all.len();
    assert!(n >= 2, "there must be a previous schema");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (i, sql) in all[..n - 1].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .unwrap();
        }
        conn.execute_batch(&old_release_writes(1)).unwrap();
    }
    let url = format!("sqlite://{}", path.display());
    let store = datahooks_store::open(&url).await.unwrap();
    assert!(store.schema_version().await.unwrap().is_current());
    reads_back(store.as_ref(), 1).await;

    // The previous release, still running beside this one, writes with its own SQL.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.execute_batch(&old_release_writes(2)).unwrap();
    }
    reads_back(store.as_ref(), 2).await;
    queue_and_new_writes(store.as_ref(), 2).await;
    drop(store);

    // A binary older than the database refuses it, saying why.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", n + 1))
            .unwrap();
    }
    let err = datahooks_store::open(&url).await.err().expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("migration {}", n + 1)) && msg.contains("newer"),
        "{msg}"
    );
}

// ---- PostgreSQL --------------------------------------------------------------------------

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test]
async fn postgres_current_migrations_apply_to_a_database_the_previous_schema_filled() {
    let Ok(server) = std::env::var("DATAHOOKS_TEST_PG_URL") else {
        eprintln!("skipped: no DATAHOOKS_TEST_PG_URL (run under scripts/with-postgres.sh)");
        return;
    };
    let name = format!("up_{}", uuid::Uuid::new_v4().simple());
    let admin = pg(&server).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", &server[..server.rfind('/').unwrap()]);

    let all = migrations("postgres");
    let n = all.len();
    assert!(n >= 2, "there must be a previous schema");
    {
        let c = pg(&url).await;
        c.batch_execute(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .await
        .unwrap();
        for (i, sql) in all[..n - 1].iter().enumerate() {
            c.batch_execute(sql).await.unwrap();
            c.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&(i as i64 + 1), &TS],
            )
            .await
            .unwrap();
        }
        c.batch_execute(&old_release_writes(1)).await.unwrap();
    }
    let store = datahooks_store::open(&url).await.unwrap();
    assert!(store.schema_version().await.unwrap().is_current());
    reads_back(store.as_ref(), 1).await;
    pg(&url)
        .await
        .batch_execute(&old_release_writes(2))
        .await
        .unwrap();
    reads_back(store.as_ref(), 2).await;
    queue_and_new_writes(store.as_ref(), 2).await;
    drop(store);

    pg(&url)
        .await
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(n as i64 + 1), &TS],
        )
        .await
        .unwrap();
    let err = datahooks_store::open(&url).await.err().expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("migration {}", n + 1)) && msg.contains("newer"),
        "{msg}"
    );
}

// ---- migration 0018: releases left PENDING become build jobs ---------------------------------

/// The migrations before `0018_jobs.sql` (by file name), in order.
fn migrations_before_jobs(backend: &str) -> Vec<String> {
    migrations_before(backend, "0018_jobs.sql")
}

const PENDING_RELEASE: &str = "11111111-1111-4111-8111-111111111111";

/// A release the previous release requested and had not built when it stopped.
fn pending_release() -> String {
    format!(
        "INSERT INTO releases (uuid, dataset_id, name, description, status, created_at, samples_count)
             VALUES ('{PENDING_RELEASE}', (SELECT d.id FROM datasets d JOIN accounts a ON a.id = d.owner_id
                 WHERE a.name = '{USER}' AND d.name = 'flowers'), 'v0', '', 'PENDING', '{TS}', 1);"
    )
}

/// The upgraded store holds one build job for the pending release, and it builds it.
async fn pending_release_is_a_job(store: &dyn Store) {
    let now = chrono::Utc::now().timestamp_millis();
    let jobs = store
        .claim_jobs("upgrader", now, now + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one job per pending release");
    assert_eq!(jobs[0].kind, datahooks_store::jobs::JobKind::ReleaseBuild);
    assert_eq!(
        jobs[0].args,
        serde_json::json!({"release": PENDING_RELEASE})
    );
    let built = store
        .build_release(
            PENDING_RELEASE,
            "tok",
            "https://x/releases/tok/release.json",
        )
        .await
        .unwrap();
    assert!(built.is_some());
}

#[tokio::test]
async fn sqlite_pending_releases_become_build_jobs() {
    let before = migrations_before_jobs("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (i, sql) in before.iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .unwrap();
        }
        conn.execute_batch(&old_release_writes(1)).unwrap();
        conn.execute_batch(&pending_release()).unwrap();
    }
    let store = datahooks_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    pending_release_is_a_job(store.as_ref()).await;
}

#[tokio::test]
async fn postgres_pending_releases_become_build_jobs() {
    let Ok(server) = std::env::var("DATAHOOKS_TEST_PG_URL") else {
        return;
    };
    let name = format!("up_{}", uuid::Uuid::new_v4().simple());
    pg(&server)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", &server[..server.rfind('/').unwrap()]);
    {
        let c = pg(&url).await;
        c.batch_execute(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .await
        .unwrap();
        for (i, sql) in migrations_before_jobs("postgres").iter().enumerate() {
            c.batch_execute(sql).await.unwrap();
            c.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&(i as i64 + 1), &TS],
            )
            .await
            .unwrap();
        }
        c.batch_execute(&old_release_writes(1)).await.unwrap();
        c.batch_execute(&pending_release()).await.unwrap();
    }
    let store = datahooks_store::open(&url).await.unwrap();
    pending_release_is_a_job(store.as_ref()).await;
    drop(store);
    let _ = pg(&server)
        .await
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
}
