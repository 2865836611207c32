//! Serving connections: our own accept loop instead of `axum::serve`, so that a client can
//! neither hold a connection forever nor make one expensive.
//!
//! - **Memory.** `axum::serve` asks the `Router` for a service per connection, and axum
//!   answers with `router.clone().with_state(())`, which rebuilds every route of the app:
//!   about 790 KiB per connection with the full API (4 KiB with the small worker router).
//!   Here the router is turned into routes once ([`serve`] takes a `Router<()>`) and each
//!   request gets a clone of that, which is a reference count. hyper's read buffer is capped
//!   ([`MAX_BUF`]), so a request head cannot grow one connection past it either.
//! - **Idle connections** cost a few hundred bytes: until its first request head has come in
//!   full, a connection is parked in the accept loop ([`park`]: one small future, one entry
//!   in a deadline queue served by one timer, and the bytes of the head so far), with no
//!   task, timer or hyper state of its own. hyper then reads those bytes again ([`rewind`]).
//! - **Header timeout.** Once a connection opens, or the first byte of a later request
//!   arrives, the whole request head must arrive within `header_timeout` (slowloris).
//! - **Body timeout.** A request body that stops arriving while its handler reads it fails
//!   after `body_timeout` without a byte, and the request is answered `408` ([`stall`]).
//! - **Idle timeout.** A keep-alive connection waiting for its next request is closed after
//!   `idle_timeout` without a byte in either direction.
//! - **Cap.** At most `max_connections` at once; beyond it a connection is answered at once
//!   with a `503` JSON error and `Connection: close`, and the ones already open carry on.
//!
//! A request being handled is never cut by these timers (its handler's own limits apply);
//! on shutdown, connections finish the request in hand and close.

mod park;
mod rewind;
mod stall;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Largest read buffer of one connection, so also the largest request head.
pub const MAX_BUF: usize = 32 * 1024;

/// Refusals (over the cap) being written at once; beyond these a connection is just closed.
const MAX_REFUSING: usize = 256;

/// The body of the answer to a connection over the cap: the house error envelope.
const REFUSAL_BODY: &str =
    r#"{"detail":"The server has too many open connections.","code":"too_many_connections"}"#;

/// The whole answer to a connection over the cap; it closes the connection.
fn refusal() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         connection: close\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    )
}

/// Limits on the connections of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections served at once; more are refused with a 503.
    pub max_connections: usize,
    /// Time for a request head to arrive in full.
    pub header_timeout: Duration,
    /// Time a connection may wait for its next request with nothing moving.
    pub idle_timeout: Duration,
    /// Time a handler reading a request body may wait for its next bytes.
    pub body_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets each connection finish
/// the request in hand and waits for all of them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our watchdog enforces the header timeout (hyper's would also cut idle keep-alives).
    builder.header_read_timeout(None).max_buf_size(MAX_BUF);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    let mut lot = park::Lot::new(limits.header_timeout);
    loop {
        let next_deadline = lot.next_deadline();
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            woken = lot.next() => {
                // Its first head (or end of file) came, or it was shut down as overdue.
                let park::Woken { stream, head, permit, start } = woken;
                if let Some(stream) = stream.filter(|_| !lot.overdue(start, Instant::now())) {
                    let (app, builder, stop) = (app.clone(), builder.clone(), stop.clone());
                    let stream = rewind::Rewind::new(head, stream);
                    tracker.spawn(async move {
                        serve_http(stream, start, app, &builder, limits, stop).await;
                        drop(permit);
                    });
                }
                continue;
            }
            _ = tokio::time::sleep_until(next_deadline.unwrap_or_else(Instant::now)),
                if next_deadline.is_some() => {
                lot.expire(Instant::now());
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (or a connection reset before accept): wait a
                    // little rather than spin; connections closing free descriptors.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(permit) => lot.park(stream, permit),
            Err(_) => {
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    tracker.spawn(async move {
                        refuse(stream).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    drop(listener);
    // Parked connections have no request in hand: closed now.
    drop(lot);
    stop.cancel();
    tracker.close();
    tracker.wait().await;
}

/// Answers a connection over the cap with the 503, then reads what the client sent for a
/// moment (closing with unread data would reset the connection before it reads the answer).
async fn refuse(mut stream: TcpStream) {
    let answer = async {
        stream.write_all(refusal().as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// What the watchdog of one connection knows, in milliseconds since it was accepted.
struct Activity {
    start: Instant,
    /// Requests whose handler is running.
    in_flight: AtomicUsize,
    /// Last byte read or written.
    last_io: AtomicU64,
    /// When the head now being read began, or [`NO_HEAD`].
    head_since: AtomicU64,
    /// Wakes the watchdog when its deadline may have moved earlier.
    changed: tokio::sync::Notify,
}

const NO_HEAD: u64 = u64::MAX;

impl Activity {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn on_read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            // The first byte after a response starts the next head's clock.
            let started = self
                .head_since
                .compare_exchange(NO_HEAD, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
            if started {
                self.changed.notify_one();
            }
        }
    }

    fn on_write(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// When the connection is due to close, if nothing moves; `None` while a handler runs.
    fn deadline(&self, limits: &ConnLimits) -> Option<u64> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        match self.head_since.load(Ordering::Relaxed) {
            NO_HEAD => Some(self.last_io.load(Ordering::Relaxed) + ms(limits.idle_timeout)),
            since => Some(since + ms(limits.header_timeout)),
        }
    }
}

/// Marks a request in flight while its handler runs (also if it is cancelled).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> InFlight {
        activity.head_since.store(NO_HEAD, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.on_write();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_one();
    }
}

/// Serves a connection whose first head has come (or that closed), with hyper.
async fn serve_http(
    stream: rewind::Rewind<TcpStream>,
    start: Instant,
    app: Router,
    builder: &hyper::server::conn::http1::Builder,
    limits: ConnLimits,
    stop: CancellationToken,
) {
    let activity = Arc::new(Activity {
        start,
        in_flight: AtomicUsize::new(0),
        last_io: AtomicU64::new(0),
        // A new connection owes its first head at once.
        head_since: AtomicU64::new(0),
        changed: tokio::sync::Notify::new(),
    });
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let guard = InFlight::begin(&activity);
            let app = app.clone();
            let stalled = Arc::new(AtomicBool::new(false));
            let req = req.map(|b| stall::Stalling::new(b, limits.body_timeout, stalled.clone()));
            async move {
                let response = app.oneshot(req).await;
                drop(guard);
                if stalled.load(Ordering::Relaxed) {
                    // Whatever the handler made of the failed read, the client's body stalled.
                    return Ok(stall::timed_out());
                }
                response
            }
        })
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let wake = match activity.deadline(&limits) {
            Some(at) => activity.start + Duration::from_millis(at),
            None => Instant::now() + limits.idle_timeout,
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            // A new deadline may be earlier than the one slept towards.
            _ = activity.changed.notified() => {}
            _ = tokio::time::sleep_until(wake) => {
                if activity.deadline(&limits).is_some_and(|at| activity.now() >= at) {
                    // Nothing in hand: dropping the connection closes the socket.
                    return;
                }
            }
        }
    }
}

/// The socket, noting each byte moved for the watchdog.
struct Watched {
    inner: rewind::Rewind<TcpStream>,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn the_refusal_declares_its_body_length() {
        let text = refusal();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "too_many_connections");
    }
}
