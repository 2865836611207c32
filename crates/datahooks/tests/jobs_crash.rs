#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Background jobs survive a crash, end to end on the real binary.
//!
//! - SQLite: a release build of a large dataset is running (its job leased, its build
//!   transaction open) when the node is SIGKILLed; the database then shows the release still
//!   PENDING and the job still leased to the dead node. The node restarts on the same data
//!   directory, takes its job back at once, and the build finishes: one `release.created`,
//!   the file with every sample, the job succeeded on its second attempt.
//! - PostgreSQL (when `DATAHOOKS_TEST_PG_URL` is set), two nodes on one database: the test
//!   holds the outbox's advisory lock so that the build, once claimed, cannot commit; the node
//!   holding the job is SIGKILLed, the lock released, and the other node takes the job when
//!   its lease runs out and finishes it.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{cli, client, dataset, dir_args, user, Server};

const USER: &str = "builder";
const DATASET: &str = "big";

/// Adds `n` samples in bulk requests.
async fn add_samples(base: &str, key: &str, n: usize) {
    let c = client();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({
                    "name": format!("s{i:06}.png"),
                    "attributes": {"image": {"url": format!("https://example.com/{i}.png")}},
                })
            })
            .collect();
        let r = c
            .post(format!("{base}/datasets/{USER}/{DATASET}/samples_bulk/"))
            .header("Authorization", format!("APIKey {key}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "bulk add samples");
    }
}

async fn request_release(base: &str, key: &str) -> Value {
    let r = client()
        .post(format!("{base}/datasets/{USER}/{DATASET}/releases/"))
        .header("Authorization", format!("APIKey {key}"))
        .json(&json!({"name": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "request a release");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "PENDING");
    v
}

/// Polls the release until it is no longer PENDING.
async fn wait_built(base: &str, key: &str, within: Duration) -> Value {
    let start = Instant::now();
    loop {
        let r = client()
            .get(format!("{base}/datasets/{USER}/{DATASET}/releases/v1/"))
            .header("Authorization", format!("APIKey {key}"))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["status"] != "PENDING" {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "the release is still PENDING after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The release file behind a built release's URL: its sample count.
async fn file_samples(release: &Value) -> usize {
    let url = release["attributes"]["url"].as_str().expect("release URL");
    let file: Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    file["dataset"]["samples"]
        .as_array()
        .map(Vec::len)
        .expect("samples in the release file")
}

/// The release build job as the SQLite database holds it: (status, attempts, lease node).
fn sqlite_job(db: &Path) -> Option<(i64, i64, Option<String>)> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT status, attempts, lease_node FROM jobs WHERE kind = 'release.build'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .ok()
}

fn sqlite_release_status(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT status FROM releases WHERE name = 'v1'", [], |r| {
        r.get(0)
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_release_build_killed_mid_job_finishes_after_a_restart() {
    const SAMPLES: usize = 8_000;
    let dir = tempfile::tempdir().unwrap();
    let global = dir_args(dir.path());
    let g: Vec<&str> = global.iter().map(String::as_str).collect();
    let key = user(&g, USER).await;
    let mut node = Server::start(&g, &["--node-id", "crashing-node"]).await;
    dataset(&node.base, &key, DATASET).await;
    add_samples(&node.base, &key, SAMPLES).await;
    let db = dir.path().join("datahooks.db");

    request_release(&node.base, &key).await;
    // Kill the node as soon as the job is running (claimed, its build transaction open).
    let start = Instant::now();
    loop {
        match sqlite_job(&db) {
            Some((1, 1, Some(n))) if n == "crashing-node" => break,
            Some((2, _, _)) => panic!(
                "the build finished before the kill; a larger dataset is needed on this machine"
            ),
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the job never ran"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill();
    // Killed mid-job: nothing of the build committed, the job is still the dead node's.
    assert_eq!(sqlite_release_status(&db), "PENDING");
    assert_eq!(
        sqlite_job(&db),
        Some((1, 1, Some("crashing-node".to_owned())))
    );

    let node = Server::start(&g, &["--node-id", "crashing-node"]).await;
    let built = wait_built(&node.base, &key, Duration::from_secs(120)).await;
    assert_eq!(built["status"], "SUCCEEDED");
    assert_eq!(built["samples_count"], SAMPLES);
    assert_eq!(file_samples(&built).await, SAMPLES);
    // Taken back at the restart, run again: the second attempt, which succeeded. The job's end
    // is recorded just after the build's commit (the build is idempotent, see
    // `webhooks::jobs`), so wait for it rather than read it at once.
    let start = Instant::now();
    while sqlite_job(&db) != Some((2, 2, None)) && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sqlite_job(&db), Some((2, 2, None)));
    drop(node);
    let created = cli(&g, &["events", "list"])
        .await
        .lines()
        .filter(|l| l.contains("\"release.created\""))
        .count();
    assert_eq!(created, 1, "exactly one release.created");
}

/// The outbox's advisory lock key (`store::postgres::OUTBOX_LOCK`): every event insert waits
/// for it, so a release build cannot commit while the test holds it.
const OUTBOX_LOCK: i64 = 0x6468_6f75_7462;

async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    format!("{root}/{db}{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_job_started_on_a_killed_node_is_finished_by_the_other() {
    let Ok(server) = std::env::var("DATAHOOKS_TEST_PG_URL") else {
        return;
    };
    let name = format!("t_jobs_{}", uuid::Uuid::new_v4().simple());
    let admin = pg_connect(&server).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = with_database(&server, &name);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let global = |dir: &Path| {
        let mut g = dir_args(dir);
        g.extend(["--database-url".to_owned(), url.clone()]);
        g
    };
    let (ga, gb) = (global(dir_a.path()), global(dir_b.path()));
    let ga: Vec<&str> = ga.iter().map(String::as_str).collect();
    let gb: Vec<&str> = gb.iter().map(String::as_str).collect();
    let key = user(&ga, USER).await;
    // Short leases, so the survivor takes the job over within seconds.
    let fast = ["--lease-secs", "4", "--request-timeout", "1"];
    let mut a = Server::start(&ga, &[&["--node-id", "node-a"][..], &fast].concat()).await;
    let mut b = Server::start(&gb, &[&["--node-id", "node-b"][..], &fast].concat()).await;
    dataset(&a.base, &key, DATASET).await;
    add_samples(&a.base, &key, 50).await;

    let db = pg_connect(&url).await;
    db.execute("SELECT pg_advisory_lock($1)", &[&OUTBOX_LOCK])
        .await
        .unwrap();
    request_release(&a.base, &key).await;
    // Either node may claim it (both hear the enqueue); it cannot commit while we hold the lock.
    let start = Instant::now();
    let holder = loop {
        let row = db
            .query_opt(
                "SELECT status, attempts, lease_node FROM jobs WHERE kind = 'release.build'",
                &[],
            )
            .await
            .unwrap();
        if let Some(r) = row {
            let (status, attempts, node): (i64, i64, Option<String>) =
                (r.get(0), r.get(1), r.get(2));
            if status == 1 {
                assert_eq!(attempts, 1);
                break node.expect("a running job has a lease holder");
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the job never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let survivor = if holder == "node-a" {
        a.kill();
        &b
    } else {
        b.kill();
        &a
    };
    db.execute("SELECT pg_advisory_unlock($1)", &[&OUTBOX_LOCK])
        .await
        .unwrap();

    let built = wait_built(&survivor.base, &key, Duration::from_secs(60)).await;
    assert_eq!(built["status"], "SUCCEEDED");
    assert_eq!(file_samples(&built).await, 50);
    // The job's end is recorded just after the build's commit: wait for it.
    let start = Instant::now();
    let (status, attempts, node) = loop {
        let r = db
            .query_one(
                "SELECT status, attempts, lease_node FROM jobs WHERE kind = 'release.build'",
                &[],
            )
            .await
            .unwrap();
        let row: (i64, i64, Option<String>) = (r.get(0), r.get(1), r.get(2));
        if row.0 == 2 || start.elapsed() > Duration::from_secs(30) {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (status, attempts, node),
        (2, 2, None),
        "finished on its second attempt"
    );
    let created: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM events WHERE event_type = 'release.created'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 1, "exactly one release.created");

    drop((a, b, db));
    let _ = admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
}
