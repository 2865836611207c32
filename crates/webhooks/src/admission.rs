//! Admission: a new message waits, briefly, while this node's deliveries wait for slots.
//!
//! The durable queue absorbs any burst, but a node that accepts events faster than it can
//! deliver them, for long, lets arrivals fall further and further behind acceptance (seconds
//! under a saturating fan-out, measured). So the worker publishes how many handed-over
//! deliveries could start now (their endpoint is below its own limit) but wait for one of
//! the node's slots; while that is more than the node has slots, [`Admission::admit`] makes
//! a new message wait for room before it is written. Senders then go at the pace of
//! delivery, and commit-to-arrival stays near one round of the slots.
//!
//! Two things it never does. Deliveries waiting for a slow endpoint's own limit do not count:
//! one slow receiver does not slow acceptance for the others (isolation). And it never
//! refuses: a message waits only while the node makes progress (deliveries start), at most
//! [`STALL`] without any and at most [`MAX_WAIT`] in all, then it is accepted anyway
//! (backpressure, not an outage). A node whose slots a few slow endpoints hold makes no
//! progress, so it still takes messages, [`STALL`] more slowly; a node that delivers as fast
//! as it can holds senders until it has room, however many deliveries a message brings.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The longest a message waits for room while no delivery starts on this node.
pub const STALL: Duration = Duration::from_millis(250);

/// The longest a message waits for room in all, however the node progresses: under most
/// clients' request timeouts.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// The gate between the message API and this node's worker.
#[derive(Debug)]
pub struct Admission {
    /// Deliveries that could start but wait for a slot, as the worker last counted them.
    waiting: AtomicUsize,
    /// Past this many waiting, new messages wait ([`usize::MAX`]: never).
    limit: usize,
    /// Told when `waiting` falls to `limit` or below.
    room: Notify,
    /// Deliveries started on this node so far: whether a waiting message sees progress.
    started: AtomicU64,
    /// Messages that waited, and how long in all (µs), for `/metrics`.
    waited: AtomicU64,
    waited_micros: AtomicU64,
}

impl Default for Admission {
    /// A gate that never closes: for a node without a worker (its deliveries go to others).
    fn default() -> Admission {
        Admission::new(usize::MAX)
    }
}

impl Admission {
    /// A gate that closes while more than `limit` deliveries wait for a slot (the worker's
    /// concurrency: past that, a new delivery waits at least one more round of every slot).
    pub fn new(limit: usize) -> Admission {
        Admission {
            waiting: AtomicUsize::new(0),
            limit,
            room: Notify::new(),
            started: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            waited_micros: AtomicU64::new(0),
        }
    }

    /// The worker's count of deliveries that could start and wait for a slot.
    pub fn set_waiting(&self, n: usize) {
        self.waiting.store(n, Ordering::SeqCst);
        if n <= self.limit {
            self.room.notify_waiters();
        }
    }

    /// The worker started a delivery: the node makes progress.
    pub fn started_one(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// Deliveries that could start and wait for a slot, as the worker last counted them.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    fn is_open(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) <= self.limit
    }

    /// Returns at once while the node keeps up; otherwise when it has room again, when no
    /// delivery started for [`STALL`], or after [`MAX_WAIT`]. Returns whether the caller waited.
    pub async fn admit(&self) -> bool {
        if self.is_open() {
            return false;
        }
        let started = tokio::time::Instant::now();
        let give_up = started + MAX_WAIT;
        let mut seen = self.started.load(Ordering::Relaxed);
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before the check, so a `set_waiting` between the two is not lost.
            room.as_mut().enable();
            if self.is_open() {
                break;
            }
            let now = tokio::time::Instant::now();
            if now >= give_up {
                break;
            }
            if tokio::time::timeout_at((now + STALL).min(give_up), room)
                .await
                .is_err()
            {
                // A quarter second without room: wait on only if deliveries started meanwhile.
                let progress = self.started.load(Ordering::Relaxed);
                if progress == seen {
                    break;
                }
                seen = progress;
            }
        }
        self.waited.fetch_add(1, Ordering::Relaxed);
        let micros = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.waited_micros.fetch_add(micros, Ordering::Relaxed);
        true
    }

    /// The counters in Prometheus text format, for `/metrics`.
    pub fn render(&self) -> String {
        let (n, secs) = self.waits();
        format!(
            "# HELP datahooks_admission_waits_total Messages that waited for this node's delivery slots before being accepted.\n\
             # TYPE datahooks_admission_waits_total counter\n\
             datahooks_admission_waits_total {n}\n\
             # HELP datahooks_admission_wait_seconds_total Time messages waited for this node's delivery slots.\n\
             # TYPE datahooks_admission_wait_seconds_total counter\n\
             datahooks_admission_wait_seconds_total {secs}\n"
        )
    }

    /// Messages that waited for room, and their total wait in seconds.
    pub fn waits(&self) -> (u64, f64) {
        (
            self.waited.load(Ordering::Relaxed),
            self.waited_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn an_open_gate_does_not_wait() {
        let gate = Admission::new(4);
        gate.set_waiting(4);
        assert!(!gate.admit().await);
        assert_eq!(gate.waits().0, 0);
        assert!(!Admission::default().admit().await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_gate_waits_for_room() {
        let gate = Arc::new(Admission::new(4));
        gate.set_waiting(5);
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !waiter.is_finished(),
            "it must wait while the node is behind"
        );
        gate.set_waiting(6);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "more waiting is no room");
        gate.set_waiting(3);
        assert!(waiter.await.unwrap());
        let (n, secs) = gate.waits();
        assert_eq!(n, 1);
        assert!((0.019..0.1).contains(&secs), "{secs}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_gate_that_stays_closed_without_progress_lets_the_message_in_after_a_stall() {
        let gate = Admission::new(0);
        gate.set_waiting(1);
        let started = tokio::time::Instant::now();
        assert!(gate.admit().await);
        assert_eq!(started.elapsed(), STALL);
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_makes_progress_holds_the_message_until_room_or_the_longest_wait() {
        let gate = Arc::new(Admission::new(0));
        gate.set_waiting(1);
        // Deliveries keep starting, every 100 ms, but room never comes.
        let worker = tokio::spawn({
            let gate = gate.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    gate.started_one();
                }
            }
        });
        let started = tokio::time::Instant::now();
        assert!(gate.admit().await);
        assert_eq!(started.elapsed(), MAX_WAIT);
        // With room after a second of progress, it goes at once.
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        gate.set_waiting(0);
        assert!(waiter.await.unwrap());
        worker.abort();
    }
}
