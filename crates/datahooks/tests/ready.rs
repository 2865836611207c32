#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Liveness and readiness on the real binary.
//!
//! - SQLite: `/api/v1/health` is 204 and `/api/v1/health/ready` (and `/ready`) 200 on a
//!   running node of each role; with the database's schema moved past the binary's under the
//!   running server, readiness turns 503 `schema_mismatch` while liveness stays 204, and a
//!   new server refuses to start on that database with a clear message; behind the binary's
//!   schema, 503 too; back at it, 200 again.
//! - PostgreSQL (under `scripts/with-postgres.sh`, which exports the cluster's `pg_ctl`
//!   location): with the database server stopped under a running node, readiness is 503
//!   `store_unreachable` and liveness 204; once it is started again, 200.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::*;

async fn get(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Polls readiness until it answers `want` (the store may take a moment to notice a change).
async fn ready_becomes(base: &str, want: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(&format!("{base}/api/v1/health/ready")).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readiness stayed {status} {body}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn set_user_version(db: &std::path::Path, v: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {v}"))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_readiness_follows_the_schema_and_the_role() {
    let tmp = tempfile::tempdir().unwrap();
    let g = dir_args(tmp.path());
    let g: Vec<&str> = g.iter().map(String::as_str).collect();
    let db = tmp.path().join("datahooks.db");

    let server = Server::start(&g, &[]).await;
    let (s, _) = get(&format!("{}/api/v1/health", server.base)).await;
    assert_eq!(s, 204);
    let body = ready_becomes(&server.base, 200).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["worker"], true, "role all runs a worker: {body}");
    let current = body["schema"].as_i64().unwrap();
    let (s, _) = get(&format!("{}/ready", server.base)).await;
    assert_eq!(s, 200, "/ready is the short form");

    // A newer release migrated the database: this node is alive but not ready.
    set_user_version(&db, current + 1);
    let body = ready_becomes(&server.base, 503).await;
    assert_eq!(body["code"], "schema_mismatch", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("newer"), "{body}");
    let (s, _) = get(&format!("{}/api/v1/health", server.base)).await;
    assert_eq!(s, 204, "liveness does not depend on the schema");
    // And an older binary refuses to start on it, saying why.
    let (ok, _, err) = run(&g, &["migrate"]).await;
    assert!(!ok, "a binary older than the schema must not start");
    assert!(
        err.contains(&format!("migration {}", current + 1)) && err.contains("newer"),
        "{err}"
    );

    // Behind the binary's schema (migrations pending): not ready either.
    set_user_version(&db, current - 1);
    let body = ready_becomes(&server.base, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("pending"),
        "{body}"
    );
    set_user_version(&db, current);
    ready_becomes(&server.base, 200).await;
    drop(server);

    // Roles: an API-only node has no worker to report; a worker node does.
    let api = Server::start(&g, &["--role", "api"]).await;
    let body = ready_becomes(&api.base, 200).await;
    assert_eq!(body["worker"], Value::Null, "{body}");
    drop(api);
    let worker = Server::start(&g, &["--role", "worker"]).await;
    let body = ready_becomes(&worker.base, 200).await;
    assert_eq!(body["worker"], true, "{body}");
    let (s, _) = get(&format!("{}/api/v1/health", worker.base)).await;
    assert_eq!(s, 204);
}

/// Runs `pg_ctl ACTION` on the test cluster, as its owner when running as root.
fn pg_ctl(bindir: &str, data: &str, action: &str) {
    let pg_ctl = format!("{bindir}/pg_ctl");
    let mut args = vec!["-D", data, "-m", "fast", "-w", "-t", "60"];
    let port_opts;
    if action == "start" {
        // Started again as with-postgres started it: same socket dir, address and port.
        port_opts = std::fs::read_to_string(format!("{data}/postmaster.opts"))
            .ok()
            .and_then(|s| {
                let (_, rest) = s.split_once(' ')?;
                Some(rest.trim().to_owned())
            });
        if let Some(o) = &port_opts {
            // postmaster.opts holds the options quoted, e.g. "-D" "/…" "-k" "/…" "-h" …
            args.push("-o");
            args.push(o.as_str());
        }
    }
    args.push(action);
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let status = if root {
        Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_ctl])
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
    } else {
        Command::new(&pg_ctl)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
    };
    assert!(status.unwrap().success(), "pg_ctl {action} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_a_running_node_is_not_ready() {
    let (Ok(url), Ok(bindir), Ok(data)) = (
        std::env::var("DATAHOOKS_TEST_PG_URL"),
        std::env::var("DATAHOOKS_TEST_PG_BINDIR"),
        std::env::var("DATAHOOKS_TEST_PG_DATA"),
    ) else {
        eprintln!("skipped: no DATAHOOKS_TEST_PG_URL (run under scripts/with-postgres.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let g = ["--data-dir", dir.as_str(), "--database-url", url.as_str()];
    let server = Server::start(&g, &[]).await;
    let body = ready_becomes(&server.base, 200).await;
    assert_eq!(body["worker"], true);

    pg_ctl(&bindir, &data, "stop");
    let body = ready_becomes(&server.base, 503).await;
    let (live, _) = get(&format!("{}/api/v1/health", server.base)).await;
    pg_ctl(&bindir, &data, "start");
    assert_eq!(body["code"], "store_unreachable", "{body}");
    assert_eq!(live, 204, "liveness does not depend on the database");

    // The pool replaces the connections the stop closed.
    let body = ready_becomes(&server.base, 200).await;
    assert_eq!(body["status"], "ready");
}
