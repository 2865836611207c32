//! What the worker's test binaries share: a real SQLite store in a temp dir, a receiver app
//! served on loopback, and an account with webhooks on and one endpoint pointing at it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use datahooks_store::webhooks::EndpointInput;
use datahooks_store::Store;
use datahooks_webhooks::signing::Secret;
use datahooks_webhooks::ssrf::DestinationPolicy;
use datahooks_webhooks::vault::Vault;

/// A store with an account whose one endpoint is `receiver`'s `/hook`.
pub struct Hooked {
    pub store: Arc<dyn Store>,
    pub account: i64,
    pub endpoint: String,
    pub vault: Vault,
    pub secret: Secret,
    /// Loopback only.
    pub policy: Arc<DestinationPolicy>,
    /// A client under `policy`, with `timeout` per request.
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// Serves `receiver` (which routes `/hook`) on loopback and sets up [`Hooked`] around it.
pub async fn hooked(receiver: Router, timeout: Duration) -> Hooked {
    let dir = tempfile::tempdir().unwrap();
    let store = datahooks_store::open(&format!("sqlite://{}/w.db", dir.path().display()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let (jane, _) = store.create_user("jane", None).await.unwrap();
    store.set_webhooks_enabled(jane.id, true).await.unwrap();
    let vault = Vault::new(b"test-key");
    let secret = Secret::generate();
    let input = EndpointInput {
        url: format!("http://{addr}/hook"),
        version: 1,
        ..Default::default()
    };
    let ep = store
        .create_endpoint(jane.id, input, vault.seal(&secret))
        .await
        .unwrap();
    let policy = Arc::new(DestinationPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]));
    let client =
        datahooks_webhooks::dispatch::build_client(policy.clone(), timeout, "datahooks/test")
            .unwrap();
    Hooked {
        store,
        account: jane.id,
        endpoint: ep.id,
        vault,
        secret,
        policy,
        client,
        dir,
    }
}
