//! `TestApp`: the real router over a real SQLite file in a temp dir, driven with `oneshot`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use datahooks_server::{build_app, AppState, Hooks, ServerConfig};
use datahooks_store::Store;
use datahooks_webhooks::metrics::Metrics;
use datahooks_webhooks::ssrf::DestinationPolicy;

pub struct TestApp {
    pub router: Router,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_public_url("http://test.local").await
    }

    /// An app whose links (and cookie security) follow `public_url`.
    pub async fn with_public_url(public_url: &str) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store = datahooks_store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let key = vec![7u8; 32];
        let policy = Arc::new(DestinationPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]));
        let state = AppState {
            store: store.clone(),
            config: Arc::new(ServerConfig {
                public_url: public_url.into(),
                data_dir: dir.path().to_path_buf(),
                body_limit: 64 * 1024,
                asset_limit: 1024 * 1024,
                asset_quota: 1536 * 1024,
                secret_key: key.clone(),
            }),
            hooks: Arc::new(Hooks::new(&key, policy, Arc::new(Metrics::default()))),
        };
        TestApp {
            router: build_app(state),
            store,
            _dir: dir,
        }
    }

    /// Creates a user and returns its key.
    pub async fn user(&self, name: &str) -> String {
        self.store.create_user(name, None).await.unwrap().1.key
    }

    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp { status, body }
    }

    pub async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("APIKey {key}"));
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.raw(b.body(body).unwrap()).await
    }

    /// All events so far, as payloads.
    pub async fn events(&self) -> Vec<Value> {
        self.store
            .events_after(0, 1_000_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_str(&e.payload).unwrap())
            .collect()
    }

    pub async fn event_types(&self) -> Vec<String> {
        self.events()
            .await
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect()
    }
}
