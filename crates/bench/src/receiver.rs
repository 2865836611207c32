//! The loopback webhook receiver: a hyper 1 server with one path per endpoint (`/hook/{i}`)
//! that answers 204 (or 503, or 204 after a delay), dedupes on `webhook-id` and records each
//! first arrival with the event's sequence number.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::clock::now_us;

/// How an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 204 at once.
    Ok = 0,
    /// 503 at once (nothing recorded as delivered).
    Fail = 1,
    /// 204 after the receiver's slow delay.
    Slow = 2,
}

/// The first arrival of one message at one endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// The event's `seq` (from the payload), if it had one.
    pub seq: Option<u64>,
    /// Bench-clock microseconds when the body had been read.
    pub at_us: u64,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<Box<str>>,
    arrivals: Vec<Arrival>,
}

#[derive(Default)]
struct Endpoint {
    mode: AtomicU8,
    distinct: AtomicU64,
    duplicates: AtomicU64,
    refused: AtomicU64,
    seen: Mutex<Seen>,
}

impl Endpoint {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Shared {
    endpoints: Vec<Endpoint>,
    slow: Duration,
    malformed: AtomicU64,
}

/// A running receiver; stops (with all its connections) when dropped.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// The parts of a delivered body that carry the sequence number: a Svix-style message's
/// payload (`{"seq": N, ...}`) or a platform event (`{"object": {"metadata": {"seq": N}}}`).
#[derive(Deserialize)]
struct Body {
    seq: Option<u64>,
    object: Option<Object>,
}

#[derive(Deserialize)]
struct Object {
    metadata: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    seq: Option<u64>,
}

fn seq_of(body: &[u8]) -> Option<u64> {
    let b: Body = serde_json::from_slice(body).ok()?;
    b.seq.or_else(|| b.object?.metadata?.seq)
}

impl Receiver {
    /// Binds `127.0.0.1:0` and serves `endpoints` paths; `slow` is the delay of [`Mode::Slow`].
    pub async fn start(endpoints: usize, slow: Duration) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the receiver")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            endpoints: (0..endpoints).map(|_| Endpoint::default()).collect(),
            slow,
            malformed: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Receiver { addr, shared, task })
    }

    /// The URL of endpoint `i`.
    pub fn url(&self, i: usize) -> String {
        format!("http://{}/hook/{i}", self.addr)
    }

    /// Changes how endpoint `i` answers from now on.
    pub fn set_mode(&self, i: usize, mode: Mode) {
        if let Some(ep) = self.shared.endpoints.get(i) {
            ep.mode.store(mode as u8, Ordering::SeqCst);
        }
    }

    fn ep(&self, i: usize) -> Option<&Endpoint> {
        self.shared.endpoints.get(i)
    }

    /// Distinct messages delivered (answered 2xx) to endpoint `i`.
    pub fn distinct(&self, i: usize) -> u64 {
        self.ep(i).map_or(0, |e| e.distinct.load(Ordering::Relaxed))
    }

    /// Distinct deliveries summed over all endpoints.
    pub fn distinct_total(&self) -> u64 {
        (0..self.shared.endpoints.len())
            .map(|i| self.distinct(i))
            .sum()
    }

    /// Repeated deliveries of a message already seen, over all endpoints.
    pub fn duplicates_total(&self) -> u64 {
        self.shared
            .endpoints
            .iter()
            .map(|e| e.duplicates.load(Ordering::Relaxed))
            .sum()
    }

    /// Attempts answered 503 at endpoint `i`.
    pub fn refused(&self, i: usize) -> u64 {
        self.ep(i).map_or(0, |e| e.refused.load(Ordering::Relaxed))
    }

    /// Requests that could not be read or had no `webhook-id`.
    pub fn malformed(&self) -> u64 {
        self.shared.malformed.load(Ordering::Relaxed)
    }

    /// First arrivals at endpoint `i`, in arrival order.
    pub fn arrivals(&self, i: usize) -> Vec<Arrival> {
        self.ep(i)
            .map_or_else(Vec::new, |e| e.seen().arrivals.clone())
    }

    /// Earliest and latest first arrival over all endpoints.
    pub fn span_us(&self) -> Option<(u64, u64)> {
        let mut span: Option<(u64, u64)> = None;
        for ep in &self.shared.endpoints {
            let seen = ep.seen();
            for a in &seen.arrivals {
                span = Some(match span {
                    None => (a.at_us, a.at_us),
                    Some((lo, hi)) => (lo.min(a.at_us), hi.max(a.at_us)),
                });
            }
        }
        span
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts until aborted; dropping the task drops the `JoinSet`, which aborts every
/// connection.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        conns.spawn(async move {
            let svc = service_fn(move |req| handle(shared.clone(), req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn reply(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let index = req
        .uri()
        .path()
        .strip_prefix("/hook/")
        .and_then(|i| i.parse::<usize>().ok());
    let Some(ep) = index.and_then(|i| shared.endpoints.get(i)) else {
        return Ok(reply(StatusCode::NOT_FOUND));
    };
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(Box::<str>::from);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            shared.malformed.fetch_add(1, Ordering::Relaxed);
            return Ok(reply(StatusCode::BAD_REQUEST));
        }
    };
    let at_us = now_us();
    let Some(id) = id else {
        shared.malformed.fetch_add(1, Ordering::Relaxed);
        return Ok(reply(StatusCode::BAD_REQUEST));
    };
    match ep.mode.load(Ordering::SeqCst) {
        m if m == Mode::Fail as u8 => {
            ep.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(reply(StatusCode::SERVICE_UNAVAILABLE));
        }
        m if m == Mode::Slow as u8 => tokio::time::sleep(shared.slow).await,
        _ => {}
    }
    let seq = seq_of(&body);
    let mut seen = ep.seen();
    if seen.ids.insert(id) {
        seen.arrivals.push(Arrival { seq, at_us });
        ep.distinct.fetch_add(1, Ordering::Relaxed);
    } else {
        ep.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    Ok(reply(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_seq_in_both_shapes() {
        assert_eq!(seq_of(br#"{"seq":7,"sent_at_us":1}"#), Some(7));
        assert_eq!(
            seq_of(br#"{"event_type":"sample.created","object":{"name":"s","metadata":{"seq":9,"sent_at_us":2}}}"#),
            Some(9)
        );
        assert_eq!(
            seq_of(br#"{"event_type":"dataset.created","object":{"name":"d"}}"#),
            None
        );
    }
}
