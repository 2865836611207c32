//! The parking lot: connections accepted whose first request head has not arrived in full.
//! Until it has, a connection has no task, no timer and no hyper state of its own: the
//! accept loop keeps it as one small future in a [`FuturesUnordered`] and its deadline in a
//! queue that one timer serves. The header timeout is the same for every connection, so the
//! order of arrival is the order of deadlines and a `VecDeque` is the whole timer wheel.
//!
//! A silent connection holds no buffer at all. The bytes of a head that trickles in are kept
//! in a buffer of their own size (not hyper's two 8 KiB ones), up to [`MAX_BUF`]; once the
//! head ends (or the buffer is full, or the client closes) the connection moves on to hyper,
//! which first reads these bytes again ([`super::rewind`]) and so sees exactly what the
//! client sent, including a head over the cap, which it refuses as before.
//!
//! A connection overdue is shut down through its socket (`shutdown(2)`): that makes it
//! readable, its future completes, and the lot drops it. Only then is its memory freed, but
//! a shut-down socket no longer holds the client.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::MAX_BUF;

/// Bytes read from a socket at once while parked; a stack buffer, not kept between reads.
const CHUNK: usize = 2048;

/// A parked connection whose first head arrived (or whose buffer filled, or that closed or
/// failed), or that was shut down because its deadline passed.
pub(super) struct Woken {
    /// The socket; `None` when it could not be taken back (then it is closed).
    pub stream: Option<TcpStream>,
    /// What was read from it so far, to be read again by hyper.
    pub head: Vec<u8>,
    /// Its slot under `--max-connections`.
    pub permit: OwnedSemaphorePermit,
    /// When it was accepted.
    pub start: Instant,
}

type Parked = Pin<Box<dyn Future<Output = Woken> + Send>>;

/// Silent connections and their deadlines.
pub(super) struct Lot {
    parked: FuturesUnordered<Parked>,
    /// `(deadline, socket)`, oldest first; the socket is weak so a connection that moved on
    /// is not kept (its entry is dropped when its deadline comes).
    deadlines: VecDeque<(Instant, Weak<TcpStream>)>,
    timeout: Duration,
}

impl Lot {
    /// An empty lot whose connections must send their first request head within `timeout`.
    pub fn new(timeout: Duration) -> Lot {
        Lot {
            parked: FuturesUnordered::new(),
            deadlines: VecDeque::new(),
            timeout,
        }
    }

    /// Parks a connection accepted now, until its first head has come or it is overdue.
    pub fn park(&mut self, stream: TcpStream, permit: OwnedSemaphorePermit) {
        let start = Instant::now();
        let stream = Arc::new(stream);
        self.deadlines
            .push_back((start + self.timeout, Arc::downgrade(&stream)));
        self.parked.push(Box::pin(async move {
            let head = read_head(&stream).await;
            Woken {
                // Only the weak deadline entry remains, so this succeeds.
                stream: Arc::into_inner(stream),
                head,
                permit,
                start,
            }
        }));
    }

    /// The next connection that woke; pending while there is none (never ends).
    pub async fn next(&mut self) -> Woken {
        loop {
            match self.parked.next().await {
                Some(w) => return w,
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// When the oldest parked connection is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|(at, _)| *at)
    }

    /// Whether a connection accepted at `start` is past its deadline at `now`.
    pub fn overdue(&self, start: Instant, now: Instant) -> bool {
        now >= start + self.timeout
    }

    /// Shuts down every connection due by `now` that is still parked; their futures then
    /// complete and [`Lot::next`] hands them back to be dropped.
    pub fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.deadlines.front() {
            if *at > now {
                break;
            }
            if let Some((_, weak)) = self.deadlines.pop_front() {
                if let Some(stream) = weak.upgrade() {
                    let _ = socket2::SockRef::from(&*stream).shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }
}

/// Reads what arrives on `stream` until a request head has ended, [`MAX_BUF`] bytes have come,
/// or the socket reached end of file or failed (also when the lot shut it down as overdue).
///
/// Only readiness is awaited: the chunk buffer lives between the wake-up and the read, so a
/// parked future holds just the bytes received.
async fn read_head(stream: &TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    loop {
        // A fresh socket counts as readable until a read says otherwise: the first
        // `try_read` then sees `WouldBlock`, which clears that, and the next wait is real.
        if stream.readable().await.is_err() {
            return head;
        }
        let mut chunk = [0u8; CHUNK];
        let room = CHUNK.min(MAX_BUF - head.len());
        match stream.try_read(&mut chunk[..room]) {
            Ok(0) => return head,
            Ok(n) => {
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&chunk[..n]);
                if head.len() >= MAX_BUF || head_ended(&head[from..]) {
                    return head;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // hyper reads the socket again and closes it.
            Err(_) => return head,
        }
    }
}

/// Whether `bytes` hold the blank line that ends a head (`\r\n\r\n`, or the bare `\n\n` that
/// hyper accepts too). Ending early is harmless: hyper reads the rest under the same clock.
fn head_ended(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\n\n") || bytes.windows(3).any(|w| w == b"\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::head_ended;

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert!(head_ended(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert!(head_ended(b"GET / HTTP/1.1\nHost: t\n\n"));
        assert!(!head_ended(b"GET / HTTP/1.1\r\nHost: t\r\n"));
        assert!(!head_ended(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: a"));
    }
}
