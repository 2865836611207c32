//! PostgreSQL restarted under a running store: the pool replaces the connections the restart
//! closed, the listener reconnects and wakes the workers, and nothing committed is lost.
//!
//! Restarts the whole test server, so it lives in a test binary of its own (cargo runs test
//! binaries one after another) and runs only under `scripts/with-postgres.sh`, which exports
//! the cluster's `DATAHOOKS_TEST_PG_BINDIR` and `DATAHOOKS_TEST_PG_DATA`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use datahooks_store::webhooks::{EndpointInput, NewMessage};

/// `pg_ctl restart`, as the cluster's owner when running as root.
fn restart_server(bindir: &str, data: &str) {
    let pg_ctl = format!("{bindir}/pg_ctl");
    let args = ["-D", data, "-m", "fast", "-w", "-t", "60", "restart"];
    let status = if nix_is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_ctl])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
    } else {
        Command::new(&pg_ctl)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
    };
    assert!(status.unwrap().success(), "pg_ctl restart failed");
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn message(n: usize) -> NewMessage {
    NewMessage {
        event_type: "test.event".into(),
        event_id: Some(format!("e{n}")),
        channels: Vec::new(),
        payload: format!("{{\"n\":{n}}}"),
        only_endpoint: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_survive_a_server_restart() {
    let (Ok(bindir), Ok(data)) = (
        std::env::var("DATAHOOKS_TEST_PG_BINDIR"),
        std::env::var("DATAHOOKS_TEST_PG_DATA"),
    ) else {
        return;
    };
    let Some(db) = common::FreshDb::new("r").await else {
        return;
    };
    let url = db.url.clone();
    let (a, b) = (
        datahooks_store::open(&url).await.unwrap(),
        datahooks_store::open(&url).await.unwrap(),
    );
    let (alice, _) = a.create_user("alice", None).await.unwrap();
    a.set_webhooks_enabled(alice.id, true).await.unwrap();
    a.create_endpoint(
        alice.id,
        EndpointInput {
            url: "https://hooks.example/".into(),
            version: 1,
            ..Default::default()
        },
        "sealed".into(),
    )
    .await
    .unwrap();
    for n in 0..20 {
        a.create_message(alice.id, message(n)).await.unwrap();
    }
    // Keep several pooled connections open across the restart.
    let busy: Vec<_> = (0..8)
        .map(|_| {
            let a = a.clone();
            tokio::spawn(async move { a.queue_depth().await })
        })
        .collect();
    for h in busy {
        h.await.unwrap().unwrap();
    }
    let _ = tokio::time::timeout(Duration::from_millis(100), b.wakeup().notified()).await;

    restart_server(&bindir, &data);

    assert!(
        tokio::time::timeout(Duration::from_secs(15), b.wakeup().notified())
            .await
            .is_ok(),
        "the listener reconnected and woke the workers"
    );
    // Writes work again (a connection that was in use at the restart may fail once).
    let started = Instant::now();
    let mut failures = 0;
    let mut n = 20;
    while n < 40 {
        match a.create_message(alice.id, message(n)).await {
            Ok(_) => n += 1,
            Err(e) => {
                failures += 1;
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "still failing after the restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    eprintln!("writes that failed after the restart: {failures}");
    // The other node hears commits again.
    let _ = tokio::time::timeout(Duration::from_millis(100), b.wakeup().notified()).await;
    a.create_message(alice.id, message(40)).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), b.wakeup().notified())
            .await
            .is_ok(),
        "NOTIFY after the restart"
    );
    // Nothing committed before the restart was lost.
    assert_eq!(b.queue_depth().await.unwrap().0, 41);
    drop((a, b));
}
