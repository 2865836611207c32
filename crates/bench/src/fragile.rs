//! Two fragile loopback receivers for the `fragile` scenario, each a raw HTTP/1 server:
//!
//! - [`Fragile::single_threaded`]: one request at a time, each taking a few milliseconds
//!   (about 250 a second), a listen backlog of 5, and a closed connection after every answer,
//!   like Python's plain `http.server`. More connections than the backlog are not accepted
//!   (the kernel drops their SYNs), so a sender that opens many at once times out.
//! - [`Fragile::rate_limited`]: many connections, keep-alive, but at most `rate` accepted
//!   requests in any 1-second window; beyond that `429` with `Retry-After: 1`, like Slack's
//!   incoming webhooks.
//!
//! Both count distinct `webhook-id`s accepted, repeated ones, and refused requests.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::clock::now_us;

#[derive(Default)]
struct Counts {
    ids: Mutex<HashSet<String>>,
    distinct: AtomicU64,
    duplicates: AtomicU64,
    refused: AtomicU64,
    last_us: AtomicU64,
}

impl Counts {
    fn accept(&self, id: &str) {
        let new = self
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned());
        if new {
            self.distinct.fetch_add(1, Ordering::Relaxed);
            self.last_us.store(now_us(), Ordering::Relaxed);
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A running fragile receiver; stops when dropped.
pub struct Fragile {
    addr: SocketAddr,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl Drop for Fragile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fragile {
    /// One request at a time, `work` each, listen backlog `backlog`, no keep-alive.
    pub fn single_threaded(work: Duration, backlog: u32) -> anyhow::Result<Fragile> {
        let listener = listen(backlog)?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                // Serve it to the end before accepting the next: single-threaded.
                let mut buf = Vec::new();
                if let Some(req) = read_request(&mut stream, &mut buf).await {
                    tokio::time::sleep(work).await;
                    c.accept(&req.id);
                    let _ = stream
                        .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                }
                let _ = stream.shutdown().await;
            }
        });
        Ok(Fragile { addr, counts, task })
    }

    /// Keep-alive, any number of connections, at most `rate` accepted per 1-second window;
    /// beyond, `429` with `Retry-After: 1`.
    pub fn rate_limited(rate: usize) -> anyhow::Result<Fragile> {
        let listener = listen(1024)?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let window = Arc::new(Mutex::new(VecDeque::<Instant>::new()));
        let c = counts.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let (c, window) = (c.clone(), window.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while let Some(req) = read_request(&mut stream, &mut buf).await {
                        let allowed = {
                            let mut w = window.lock().unwrap_or_else(PoisonError::into_inner);
                            let now = Instant::now();
                            while w
                                .front()
                                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                            {
                                w.pop_front();
                            }
                            let ok = w.len() < rate;
                            if ok {
                                w.push_back(now);
                            }
                            ok
                        };
                        let answer: &[u8] = if allowed {
                            c.accept(&req.id);
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                        } else {
                            c.refused.fetch_add(1, Ordering::Relaxed);
                            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 12\r\n\r\nrate_limited"
                        };
                        if stream.write_all(answer).await.is_err() || req.close {
                            break;
                        }
                    }
                });
            }
        });
        Ok(Fragile { addr, counts, task })
    }

    /// The URL to register as an endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Distinct messages accepted.
    pub fn distinct(&self) -> u64 {
        self.counts.distinct.load(Ordering::Relaxed)
    }

    /// Messages accepted again.
    pub fn duplicates(&self) -> u64 {
        self.counts.duplicates.load(Ordering::Relaxed)
    }

    /// Requests answered 429.
    pub fn refused(&self) -> u64 {
        self.counts.refused.load(Ordering::Relaxed)
    }

    /// Bench-clock µs of the last first arrival.
    pub fn last_us(&self) -> u64 {
        self.counts.last_us.load(Ordering::Relaxed)
    }
}

fn listen(backlog: u32) -> anyhow::Result<tokio::net::TcpListener> {
    let socket = TcpSocket::new_v4().context("socket")?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(backlog).context("listen")
}

struct Req {
    id: String,
    close: bool,
}

/// Reads one request (headers and a `Content-Length` body) from `stream`, keeping what
/// follows it in `buf`; `None` at the end of the connection or on garbage.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Req> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut len = 0usize;
            let mut id = String::new();
            let mut close = head.lines().next().is_some_and(|l| l.ends_with("1.0"));
            for line in head.lines().skip(1) {
                let Some((k, v)) = line.split_once(':') else {
                    continue;
                };
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                match k.as_str() {
                    "content-length" => len = v.parse().ok()?,
                    "webhook-id" => id = v.to_owned(),
                    "connection" => close = v.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
            let total = end + 4 + len;
            while buf.len() < total {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Some(Req { id, close });
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
