//! Helpers shared by the operations tests: the real `datahooks` binary as a server or a
//! one-shot command, and a webhook receiver on loopback.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_datahooks");
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `datahooks serve`; killed (SIGKILL) and reaped when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `datahooks [global] serve --listen 127.0.0.1:0 [serve_args]` and waits for its
    /// `listening on` line.
    pub async fn start(global: &[&str], serve_args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(global)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(serve_args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn datahooks serve");
        let stdout = child.stdout.take().expect("server stdout");
        let mut server = Server {
            child,
            base: String::new(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().to_owned());
                    }
                }
            }
        });
        server.base = tokio::time::timeout(START_TIMEOUT, rx)
            .await
            .expect("the server did not print its address in time")
            .expect("the server exited before listening");
        server
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a one-shot command; returns (success, stdout, stderr).
pub async fn run(global: &[&str], args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(BIN)
            .args(global)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("datahooks {args:?} timed out"))
    .expect("run datahooks");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a one-shot command that must succeed; returns its stdout.
pub async fn cli(global: &[&str], args: &[&str]) -> String {
    let (ok, out, err) = run(global, args).await;
    assert!(ok, "datahooks {args:?} failed: {err}");
    out
}

/// `--data-dir DIR` as global arguments.
pub fn dir_args(dir: &Path) -> Vec<String> {
    vec!["--data-dir".into(), dir.display().to_string()]
}

/// Creates a user; returns its API key.
pub async fn user(global: &[&str], name: &str) -> String {
    cli(global, &["user", "create", name])
        .await
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("API key line")
        .trim()
        .to_owned()
}

/// Events printed by `datahooks events list`.
pub async fn events(global: &[&str]) -> Vec<Value> {
    cli(global, &["events", "list"])
        .await
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("event JSON line"))
        .collect()
}

/// One request the receiver answered 204 to.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("delivery body is JSON")
    }
}

/// A webhook receiver on loopback. While `hold` is set it never answers (a request then
/// stays in flight until its sender gives up or dies) and records nothing; otherwise it
/// records the request and answers 204.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    pub hold: Arc<AtomicBool>,
}

impl Receiver {
    /// Starts it; returns its URL.
    pub async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move {
                    if me.hold.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    me.got.lock().unwrap().push(Received {
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/hook")
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// An HTTP client for the tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Enables webhooks for `user` and adds an endpoint to `url`; returns the endpoint id.
pub async fn endpoint(base: &str, key: &str, user: &str, url: &str) -> String {
    let c = client();
    let r = c
        .post(format!("{base}/api/v1/app/"))
        .header("Authorization", format!("Bearer {key}"))
        .json(&serde_json::json!({"name": user, "uid": user}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status().as_u16() == 409,
        "enable webhooks: {}",
        r.status()
    );
    let r = c
        .post(format!("{base}/api/v1/app/{user}/endpoint/"))
        .header("Authorization", format!("Bearer {key}"))
        .json(&serde_json::json!({"url": url, "version": 1}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create endpoint: {}", r.status());
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// Creates `user/name`.
pub async fn dataset(base: &str, key: &str, name: &str) {
    let r = client()
        .post(format!("{base}/user/datasets/"))
        .header("Authorization", format!("APIKey {key}"))
        .json(&serde_json::json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "create dataset");
}
