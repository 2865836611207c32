//! Readiness of a node whose delivery worker stopped: 503 `worker_stopped` while the process
//! stays alive (204), 200 while the worker runs; a node without a worker never reports one.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use datahooks_server::ready::WorkerRunning;
use datahooks_server::{build_app, build_ops_app, AppState, Hooks, ServerConfig};
use datahooks_webhooks::metrics::Metrics;
use datahooks_webhooks::ssrf::DestinationPolicy;

async fn state(dir: &tempfile::TempDir, worker: Option<Arc<WorkerRunning>>) -> AppState {
    let store = datahooks_store::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    let key = vec![7u8; 32];
    let mut hooks = Hooks::new(
        &key,
        Arc::new(DestinationPolicy::new(Vec::new())),
        Arc::new(Metrics::default()),
    );
    hooks.worker = worker;
    AppState {
        store,
        config: Arc::new(ServerConfig {
            public_url: "http://test.local".into(),
            data_dir: dir.path().to_path_buf(),
            body_limit: 64 * 1024,
            asset_limit: 1024 * 1024,
            asset_quota: 1 << 30,
            secret_key: key,
        }),
        hooks: Arc::new(hooks),
    }
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_stopped_worker_makes_the_node_unready_but_alive() {
    let dir = tempfile::tempdir().unwrap();
    let flag = Arc::new(WorkerRunning::default());
    let st = state(&dir, Some(flag.clone())).await;
    for app in [build_app(st.clone()), build_ops_app(st)] {
        // Not started yet.
        let (s, body) = get(&app, "/api/v1/health/ready").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "worker_stopped", "{body}");
        assert_eq!(get(&app, "/api/v1/health").await.0, StatusCode::NO_CONTENT);

        let running = flag.enter();
        let (s, body) = get(&app, "/ready").await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["worker"], true);

        // The task running the worker ended (returned or panicked): the guard is dropped.
        drop(running);
        let (s, body) = get(&app, "/ready").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "worker_stopped");
    }
}

#[tokio::test]
async fn a_panicking_worker_task_clears_the_flag() {
    let flag = Arc::new(WorkerRunning::default());
    let guard = flag.enter();
    let task = tokio::spawn(async move {
        let _running = guard;
        panic!("worker bug");
    });
    assert!(task.await.is_err());
    assert!(!flag.get());
}

#[tokio::test]
async fn a_node_without_a_worker_is_ready_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = build_app(state(&dir, None).await);
    let (s, body) = get(&app, "/api/v1/health/ready").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["worker"], Value::Null);
}
