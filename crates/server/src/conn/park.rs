//! The parking lot: connections accepted but silent so far. Until its first byte arrives, a
//! connection has no task, no timer and no hyper state of its own: the accept loop keeps it
//! as one small readiness future in a [`FuturesUnordered`] and its deadline in a queue that
//! one timer serves. The header timeout is the same for every connection, so the order of
//! arrival is the order of deadlines and a `VecDeque` is the whole timer wheel.
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

/// A parked connection whose socket became readable (bytes, end of file or an error), or
/// that was shut down because its deadline passed.
pub(super) struct Woken {
    /// The socket; `None` when it could not be taken back (then it is closed).
    pub stream: Option<TcpStream>,
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
    /// An empty lot whose connections must send their first byte within `timeout`.
    pub fn new(timeout: Duration) -> Lot {
        Lot {
            parked: FuturesUnordered::new(),
            deadlines: VecDeque::new(),
            timeout,
        }
    }

    /// Parks a connection accepted now, until it is readable or overdue.
    pub fn park(&mut self, stream: TcpStream, permit: OwnedSemaphorePermit) {
        let start = Instant::now();
        let stream = Arc::new(stream);
        self.deadlines
            .push_back((start + self.timeout, Arc::downgrade(&stream)));
        self.parked.push(Box::pin(async move {
            // A fresh socket counts as readable until a read says otherwise, so `readable()`
            // alone would wake at once: peeking one byte waits for a real byte (or end of
            // file, or an error, which hyper then sees too and closes).
            let mut first = [0u8; 1];
            let _ = stream.peek(&mut first).await;
            Woken {
                // Only the weak deadline entry remains, so this succeeds.
                stream: Arc::into_inner(stream),
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
