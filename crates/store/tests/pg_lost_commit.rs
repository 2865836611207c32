//! A group commit whose COMMIT answer is lost: the batch was committed, but the connection
//! broke before PostgreSQL's answer came back. The store cannot know whether the batch is in,
//! so it must not commit its messages again one by one (that stored each message twice, for
//! messages without an `eventId`); every request gets the error instead, as a lone message's
//! lost COMMIT gives.
//!
//! The connection runs through a proxy on loopback that, once armed, lets the next `COMMIT`
//! through to the server, waits for it to be committed, and then closes the connection
//! without passing the answer on. Runs only under `scripts/with-postgres.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use datahooks_store::webhooks::NewMessage;

/// Forwards connections to `upstream`; when `armed`, the first client packet that holds a
/// `COMMIT` is passed on, and after the server has had time to commit it the connection is
/// closed both ways with the answer unsent.
async fn proxy(upstream: String, armed: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let server = TcpStream::connect(&upstream).await.unwrap();
            tokio::spawn(pipe(client, server, armed.clone()));
        }
    });
    port
}

async fn pipe(client: TcpStream, server: TcpStream, armed: Arc<AtomicBool>) {
    let (mut c_read, mut c_write) = client.into_split();
    let (mut s_read, mut s_write) = server.into_split();
    let cut = Arc::new(tokio::sync::Notify::new());
    let down = {
        let cut = cut.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::io::copy(&mut s_read, &mut c_write) => {},
                _ = cut.notified() => {},
            }
            // Dropping both halves closes the client's side without the answer.
        })
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match c_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let holds_commit = buf[..n].windows(6).any(|w| w == b"COMMIT");
        if holds_commit && armed.swap(false, Ordering::SeqCst) {
            // Stop relaying answers first, then let the COMMIT reach the server.
            cut.notify_one();
            s_write.write_all(&buf[..n]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        if s_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = down.await;
}

#[tokio::test]
async fn a_lost_commit_answer_does_not_store_a_batch_twice() {
    let Some(db) = common::FreshDb::new("lc").await else {
        return;
    };
    // The same database, reached through the proxy: `user@host:port` becomes
    // `user@127.0.0.1:proxy`.
    let root = &db.url[..db.url.rfind('/').unwrap()];
    let (user, host_port) = root.rsplit_once('@').unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let port = proxy(host_port.to_owned(), armed.clone()).await;
    let via_proxy = format!("{user}@127.0.0.1:{port}/{}", db.name);
    let store = datahooks_store::open(&via_proxy).await.unwrap();
    let (alice, _) = store.create_user("alice", None).await.unwrap();

    // On this test's one thread, the ten requests are all queued before the ingest loop
    // runs (tasks run in the order they were woken): one batch, one transaction, one COMMIT.
    armed.store(true, Ordering::SeqCst);
    let sends: Vec<_> = (0..10)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_message(
                        alice.id,
                        NewMessage {
                            event_type: "test.event".into(),
                            event_id: None,
                            channels: Vec::new(),
                            payload: format!("{{\"n\":{n}}}"),
                            only_endpoint: None,
                        },
                    )
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for s in sends {
        results.push(s.await.unwrap());
    }
    assert!(
        !armed.load(Ordering::SeqCst),
        "the proxy never saw the COMMIT"
    );
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        failed, 10,
        "the batch's COMMIT answer was lost: {results:?}"
    );

    // Committed, once each: nothing was stored again.
    let direct = db.sql().await;
    let rows = direct
        .query(
            "SELECT payload, count(*) AS n FROM messages WHERE account_id = $1 GROUP BY payload",
            &[&alice.id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 10, "every message was committed by the batch");
    for r in rows {
        let n: i64 = r.get("n");
        assert_eq!(n, 1, "{} stored {n} times", r.get::<_, String>("payload"));
    }
    drop(store);
}
