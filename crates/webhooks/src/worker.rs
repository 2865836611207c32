//! The delivery worker: sends deliveries concurrently, each signed, under a lease, and records
//! each attempt with what happens next.
//!
//! - The hot path: deliveries queued by this node's own commits arrive through the store's
//!   hand-off, already leased to this node with their payload: no claim, no re-read. Other
//!   work (retries, expired leases, deliveries queued elsewhere) is claimed from the shared
//!   queue in one statement.
//! - Attempts are recorded in batches ([`record_loop`]): one store call, and on PostgreSQL one
//!   round trip, for every attempt that finished meanwhile.
//! - Event-driven: wakes on a hand-off, on a commit that queued claimable work, on a freed
//!   slot, or when the next claimable delivery falls due; it never polls on a short timer.
//! - Each delivery runs in its own task, and at most `endpoint_concurrency` per endpoint are
//!   waiting for the endpoint's answer, so a slow or dead endpoint only holds its own slots.
//!   Once the endpoint has answered, its place goes to the next delivery while the attempt
//!   is recorded: a fast endpoint's rate is not bounded by the store's commit time.
//! - A delivery is leased for `lease`; if this node dies mid-attempt, the lease runs out and
//!   any node takes it over: at-least-once, never lost.
//! - [`Worker::run_once`] processes everything due at the injected clock's time and returns,
//!   so tests step the worker instead of sleeping.
//! - [`Worker::deliver`] keeps three steps apart: before send (pacing), send, after result.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use datahooks_domain::delivery::Trigger;
use datahooks_store::webhooks::{AttemptResult as StoredAttempt, Completion, DeliveryJob, Handoff};
use datahooks_store::Store;

use crate::admission::Admission;
use crate::dispatch::{self, Headers, Request};
use crate::metrics::{Metrics, Outcome};
use crate::nodes;
use crate::pace::PaceConfig;
use crate::paced::{self, After, Paced};
use crate::retry::{jitter, RetrySchedule};
use crate::signing::{signature_header, Secret};
use crate::ssrf::DestinationPolicy;
use crate::traced;
use crate::vault::Vault;

/// Where the worker reads the time: the system clock, or a test's.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock a test moves by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock at `ms`.
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        self.0
            .fetch_add(d.as_millis() as i64, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This node's name (lease owner).
    pub node: String,
    /// Retry delays.
    pub schedule: RetrySchedule,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// How long a claimed delivery stays ours; longer than the request timeout.
    pub lease: Duration,
    /// Most deliveries claimed per store round trip.
    pub batch: usize,
    /// Most deliveries waiting for one endpoint's answer on this node: one slow or dead
    /// endpoint then holds at most this many of the `concurrency` slots.
    pub endpoint_concurrency: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            node: format!("node-{}", uuid_like()),
            schedule: RetrySchedule::default(),
            concurrency: 256,
            lease: Duration::from_secs(60),
            batch: 256,
            endpoint_concurrency: 64,
        }
    }
}

fn uuid_like() -> String {
    let mut b = [0u8; 6];
    rand::thread_rng().fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The delivery worker of one node.
pub struct Worker {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    /// The destination policy, and the endpoint URLs it allowed, parsed once.
    urls: dispatch::CheckedUrls,
    vault: Vault,
    config: WorkerConfig,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Per endpoint, the earliest time (ms) the next send may start (throttling).
    throttle: Mutex<HashMap<String, i64>>,
    /// Deliveries in flight per endpoint on this node.
    inflight: Mutex<HashMap<String, usize>>,
    /// Told when a delivery frees a slot that the loop was waiting for.
    freed: Notify,
    /// What the freed slots were: endpoints that were at their limit, and whether every slot
    /// was busy. Claims run only for those that nothing handed over is waiting for.
    freed_what: Mutex<Freed>,
    /// Told when a retry was scheduled: the loop's sleep may need to end sooner.
    rescheduled: Notify,
    /// Set while handed-over deliveries wait for a slot.
    backlogged: AtomicBool,
    /// Where finished attempts go to be recorded in batches (started on first use).
    recorder: OnceLock<mpsc::UnboundedSender<Record>>,
    /// Attempts answered and not yet recorded ([`RECORDING_PER_SLOT`] per slot): an answered
    /// delivery gives its slot to the next one and waits here for its record instead.
    recording: Arc<Semaphore>,
    /// PACE: each endpoint's adaptive limit, the receiver's pauses, down endpoints.
    pace: Paced,
    /// Told how many handed-over deliveries could start but wait for a slot: the message API
    /// waits while that is too many (see [`crate::admission`]).
    admission: Arc<Admission>,
}

/// The longest the loop sleeps with nothing due: a safety net against a lost wake-up (e.g.
/// a NOTIFY missed while the listener reconnected), not a polling interval.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Most attempts recorded in one store call.
const RECORD_BATCH: usize = 512;

/// Answered attempts waiting for their record, per slot of `concurrency`: past that, an
/// answered delivery keeps its slot until a record is written (the store sets the pace).
const RECORDING_PER_SLOT: usize = 1;

/// A finished attempt on its way to the store, and who waits for it to be recorded.
struct Record {
    done: Completion,
    recorded: oneshot::Sender<()>,
}

/// Slots freed since the loop last looked.
#[derive(Default)]
struct Freed {
    /// Endpoints that were at their limit.
    endpoints: Vec<String>,
    /// Every slot of the node was busy.
    all_busy: bool,
}

/// A delivery counted in flight: it holds a slot of the node (`permit`) and a place among
/// its endpoint's deliveries (against `--endpoint-concurrency`) from its start until the
/// endpoint has answered, or it went back to the queue. Dropping it frees both and wakes
/// the loop if work was waiting for either.
struct InFlight {
    worker: Arc<Worker>,
    endpoint: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl InFlight {
    fn start(
        worker: &Arc<Worker>,
        endpoint: &str,
        permit: Option<OwnedSemaphorePermit>,
    ) -> InFlight {
        worker.track(endpoint, 1);
        InFlight {
            worker: worker.clone(),
            endpoint: endpoint.to_owned(),
            permit,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let w = &self.worker;
        let freed_full = w.track(&self.endpoint, -1);
        let all_busy = self
            .permit
            .take()
            .is_some_and(|p| p.semaphore().available_permits() == 0);
        if freed_full || all_busy || w.backlogged.load(Ordering::SeqCst) {
            // Work was waiting for this slot: let the loop look again.
            if let Ok(mut f) = w.freed_what.lock() {
                if freed_full {
                    f.endpoints.push(std::mem::take(&mut self.endpoint));
                }
                f.all_busy |= all_busy;
            }
            w.freed.notify_one();
        }
    }
}

/// Most handed-over deliveries a node keeps waiting for a slot, and the most payload bytes
/// they may hold; past either, the newest go back to the queue for any node.
const MAX_WAITING: usize = 8192;
const MAX_WAITING_BYTES: usize = 8 << 20;

/// A delivery handed over by this node's own commit, waiting for a slot.
struct Handed {
    /// Boxed: thousands may wait (a burst times its fan-out), and each endpoint's queue grows
    /// by doubling; that spare room then costs a pointer per place, not a whole job.
    job: Box<DeliveryJob>,
    /// When it was taken from the hand-off (its lease started just before).
    since: tokio::time::Instant,
}

/// Handed-over deliveries waiting for a slot: per endpoint, in arrival order, so starting
/// them costs per endpoint, not per waiting delivery.
#[derive(Default)]
struct Backlog {
    queues: HashMap<String, VecDeque<Handed>>,
    len: usize,
    bytes: usize,
}

impl Backlog {
    /// Queues a delivery; past the bounds, returns it to be handed back instead.
    fn push(&mut self, job: DeliveryJob) -> Option<i64> {
        if self.len >= MAX_WAITING || self.bytes >= MAX_WAITING_BYTES {
            return Some(job.delivery_id);
        }
        self.len += 1;
        self.bytes += job.payload.len();
        self.queues
            .entry(job.endpoint_id.clone())
            .or_default()
            .push_back(Handed {
                job: Box::new(job),
                since: tokio::time::Instant::now(),
            });
        None
    }

    fn pop(&mut self, endpoint: &str) -> Option<Handed> {
        let q = self.queues.get_mut(endpoint)?;
        let h = q.pop_front();
        if q.is_empty() {
            self.queues.remove(endpoint);
        }
        if let Some(h) = &h {
            self.len -= 1;
            self.bytes -= h.job.payload.len();
        }
        h
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts what may start, endpoint by endpoint, each in arrival order: `slot(endpoint)` is
    /// asked before each waiting delivery and gives what it needs to start (a node slot), or
    /// `None` to move on to the next endpoint. Returns how many are left waiting at endpoints
    /// with room (`has_room`): they wait only for a node slot. One pass, no key copied: this
    /// runs at every wake-up of a busy node.
    fn start_ready<P>(
        &mut self,
        mut slot: impl FnMut(&str) -> Option<P>,
        mut start: impl FnMut(DeliveryJob, P),
        has_room: impl Fn(&str) -> bool,
    ) -> usize {
        let mut runnable = 0;
        for (endpoint, queue) in self.queues.iter_mut() {
            while !queue.is_empty() {
                let Some(p) = slot(endpoint) else {
                    break;
                };
                let Some(h) = queue.pop_front() else {
                    break;
                };
                self.len -= 1;
                self.bytes -= h.job.payload.len();
                start(*h.job, p);
            }
            if !queue.is_empty() && has_room(endpoint) {
                runnable += queue.len();
            }
        }
        self.queues.retain(|_, queue| !queue.is_empty());
        runnable
    }

    fn waits_for(&self, endpoint: &str) -> bool {
        self.queues.contains_key(endpoint)
    }

    /// When the oldest waiting delivery was handed over.
    fn oldest(&self) -> Option<tokio::time::Instant> {
        self.queues
            .values()
            .filter_map(|q| q.front().map(|h| h.since))
            .min()
    }

    /// Takes out the deliveries handed over at or before `cutoff`.
    fn take_older(&mut self, cutoff: tokio::time::Instant) -> Vec<i64> {
        let mut out = Vec::new();
        let endpoints: Vec<String> = self.queues.keys().cloned().collect();
        for ep in endpoints {
            while self
                .queues
                .get(&ep)
                .and_then(|q| q.front())
                .is_some_and(|h| h.since <= cutoff)
            {
                if let Some(h) = self.pop(&ep) {
                    out.push(h.job.delivery_id);
                }
            }
        }
        out
    }

    fn take_all(&mut self) -> Vec<i64> {
        let ids = self
            .queues
            .values()
            .flatten()
            .map(|h| h.job.delivery_id)
            .collect();
        *self = Backlog::default();
        ids
    }
}

impl Worker {
    /// A worker over `store`, sending with `client` (see [`dispatch::build_client`]).
    pub fn new(
        store: Arc<dyn Store>,
        client: reqwest::Client,
        policy: Arc<DestinationPolicy>,
        vault: Vault,
        config: WorkerConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Worker {
        Worker {
            store,
            client,
            urls: dispatch::CheckedUrls::new(policy),
            vault,
            clock,
            metrics,
            throttle: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            freed_what: Mutex::new(Freed::default()),
            rescheduled: Notify::new(),
            backlogged: AtomicBool::new(false),
            recorder: OnceLock::new(),
            recording: Arc::new(Semaphore::new(
                config.concurrency.max(1) * RECORDING_PER_SLOT,
            )),
            // PACE: the limit grows up to --endpoint-concurrency; a delivery waits for a slot
            // at most a quarter of its lease before going back to the queue.
            pace: Paced::new(
                PaceConfig {
                    max_limit: config.endpoint_concurrency.max(1) as f64,
                    ..PaceConfig::default()
                },
                config.lease / 4,
            ),
            admission: Arc::new(Admission::default()),
            config,
        }
    }

    /// Tells `admission` how far this worker is behind (by default it tells nobody).
    pub fn with_admission(mut self, admission: Arc<Admission>) -> Worker {
        self.admission = admission;
        self
    }

    /// This node's view of an endpoint's pace (see [`crate::pace`]).
    pub fn pace_view(&self, endpoint: &str) -> Option<crate::pace::View> {
        self.pace.view(endpoint, self.clock.now_ms())
    }

    /// Endpoints with as many deliveries in flight on this node as one may have, and (PACE)
    /// those paused by their receiver or down.
    fn saturated(&self) -> Vec<String> {
        let cap = self.config.endpoint_concurrency.max(1);
        let mut out: Vec<String> = match self.inflight.lock() {
            Ok(m) => m
                .iter()
                .filter(|(_, n)| **n >= cap)
                .map(|(e, _)| e.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        for e in self.pace.blocked(self.clock.now_ms()) {
            if !out.contains(&e) {
                out.push(e);
            }
        }
        out
    }

    fn has_room(&self, endpoint: &str) -> bool {
        let cap = self.config.endpoint_concurrency.max(1);
        match self.inflight.lock() {
            Ok(m) => m.get(endpoint).copied().unwrap_or(0) < cap,
            Err(_) => true,
        }
    }

    /// Counts a delivery in or out of flight to `endpoint`. Returns true when a delivery out
    /// freed a slot of an endpoint that was at its limit: work passed over may now start.
    fn track(&self, endpoint: &str, delta: isize) -> bool {
        let cap = self.config.endpoint_concurrency.max(1);
        let Ok(mut m) = self.inflight.lock() else {
            return false;
        };
        let n = m.entry(endpoint.to_owned()).or_insert(0);
        let was_full = *n >= cap;
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            m.remove(endpoint);
        }
        delta < 0 && was_full
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    /// Runs until `cancel`; then lets in-flight deliveries finish (up to the lease).
    ///
    /// Two sources of work. The hot path: deliveries this node's own commits queued arrive
    /// already leased to it, with their payload, through the store's hand-off; they start at
    /// once when a slot is free, no query needed. The shared queue: retries, expired leases,
    /// deliveries queued by nodes without a worker, and what a node handed back, claimed in
    /// one statement.
    ///
    /// The loop sleeps until one of: a hand-off; a commit that queued work any node may claim
    /// (the store's `wakeup`); a freed slot that work was waiting for (a delivery to an
    /// endpoint at its limit finished, or every slot was busy); the time the next claimable
    /// delivery falls due (a retry, or a lease held elsewhere running out); a handed-over
    /// delivery waiting so long its lease must go back. There is no polling timer: when due
    /// work cannot be claimed, the loop waits for the event that makes it claimable.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let wake = self.store.wakeup();
        // PACE: join the live nodes before the first claim, so this node starts with its share
        // of each endpoint's limit, then keep the share current.
        if let Some(share) = nodes::beat(&*self.store, &self.config.node, self.clock.now_ms()).await
        {
            self.pace.set_share(share);
            self.metrics.set_live_nodes(share.nodes);
        }
        let heartbeat = {
            let me = self.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let node = me.config.node.clone();
                nodes::run(
                    &*me.store,
                    &node,
                    || me.clock.now_ms(),
                    |share| {
                        me.pace.set_share(share);
                        me.metrics.set_live_nodes(share.nodes);
                    },
                    cancel,
                )
                .await;
            })
        };
        // Leases this node held before a restart are not being worked on: take them back now
        // rather than waiting for them to run out.
        match self
            .store
            .release_leases(&self.config.node, self.clock.now_ms())
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(deliveries = n, node = %self.config.node, "took back this node's leases from before the restart")
            }
            Err(e) => tracing::warn!(error = %e, "could not take back this node's leases"),
        }
        let handoff = Handoff::new(&self.config.node, self.config.lease);
        self.store.attach_worker(Some(handoff.clone()));
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut backlog = Backlog::default();
        let mut claim_needed = true;
        // When the next claimable delivery falls due, as last read from the store.
        let mut due_at: Option<tokio::time::Instant> = None;
        // Failed claims back off (the store is down or busy), growing up to 5 s.
        let mut backoff = Duration::from_millis(100);
        let mut contended = Duration::from_millis(1);
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let now = self.clock.now_ms();
            // The hot path: what this node's commits handed over.
            self.start_handed(&mut backlog, &handoff, &slots).await;
            // The shared queue, when something may be due there. Handed-over deliveries that
            // could start have started; those left wait for their endpoint, whose rows the
            // claim passes over too.
            if claim_needed && slots.available_permits() > 0 {
                let free = slots.available_permits().min(self.config.batch);
                let skip = self.saturated();
                let claimed = match self
                    .store
                    .claim_due_except(
                        &self.config.node,
                        now,
                        now + self.lease_ms(),
                        free as i64,
                        &skip,
                    )
                    .await
                {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim deliveries");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {},
                            _ = cancel.cancelled() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                };
                backoff = Duration::from_millis(100);
                let n = claimed.len();
                for job in claimed {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        break; // cannot happen: at most `free` were claimed
                    };
                    self.spawn_delivery(job, permit);
                }
                if n == free {
                    continue; // there may be more due right now
                }
                claim_needed = false;
                // Sleep until the next delivery this node could claim falls due: endpoints
                // at their limit are left out (a freed slot wakes the loop for those).
                let skip = self.saturated();
                let wait = match self.store.next_due_except(&skip).await {
                    Ok(Some(t)) => Duration::from_millis((t - self.clock.now_ms()).max(0) as u64)
                        .min(MAX_SLEEP),
                    Ok(None) => MAX_SLEEP,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read when work falls due");
                        backoff
                    }
                };
                // PACE: a paused or down endpoint is left out above; wake when it opens again.
                let now = self.clock.now_ms();
                let wait = match self.pace.next_unblock(now) {
                    Some(t) => wait.min(Duration::from_millis((t - now).max(0) as u64)),
                    None => wait,
                };
                let wait = if n == 0 && wait.is_zero() {
                    // Due, yet nothing was claimable: on PostgreSQL, rows another node is
                    // leasing at this very moment (SKIP LOCKED). Its commit leases them, so
                    // this clears within a transaction's time; a growing pause, not a spin.
                    let w = contended;
                    contended = (contended * 2).min(Duration::from_secs(1));
                    w
                } else {
                    contended = Duration::from_millis(1);
                    wait
                };
                due_at = Some(tokio::time::Instant::now() + wait);
            }
            // A handed-over delivery must not wait past half its lease: then it goes back.
            let stale_at = backlog.oldest().map(|t| t + self.config.lease / 2);
            let until = [due_at, stale_at]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| tokio::time::Instant::now() + MAX_SLEEP);
            self.backlogged.store(!backlog.is_empty(), Ordering::SeqCst);
            tokio::select! {
                _ = handoff.ready() => {},
                _ = wake.notified() => claim_needed = true,
                _ = self.freed.notified() => {
                    // Claim when a freed slot has nothing handed over waiting for it: the
                    // backlog fills the others without a query.
                    let freed = self
                        .freed_what
                        .lock()
                        .map(|mut f| std::mem::take(&mut *f))
                        .unwrap_or_default();
                    self.start_handed(&mut backlog, &handoff, &slots).await;
                    if (freed.all_busy && backlog.is_empty())
                        || freed.endpoints.iter().any(|e| !backlog.waits_for(e))
                    {
                        claim_needed = true;
                    }
                },
                _ = self.rescheduled.notified() => claim_needed = true,
                _ = tokio::time::sleep_until(until) => {
                    if due_at.is_some_and(|t| t <= tokio::time::Instant::now()) {
                        claim_needed = true;
                        due_at = None;
                    }
                },
                _ = cancel.cancelled() => break,
            }
        }
        // Graceful stop: commits no longer hand over; what was handed over and not started
        // goes back to the queue for any node. In-flight deliveries may finish; what does not
        // is left to its lease and taken over by another node (or by this one after a
        // restart).
        self.store.attach_worker(None);
        self.admission.set_waiting(0);
        let mut ids = backlog.take_all();
        ids.extend(handoff.take().into_iter().map(|j| j.delivery_id));
        self.release(&ids).await;
        let all = self.config.concurrency.max(1) as u32;
        let recordings = (self.config.concurrency.max(1) * RECORDING_PER_SLOT) as u32;
        let _ = tokio::time::timeout(self.config.lease, async {
            let _slots = slots.acquire_many(all).await;
            // Answered attempts still being recorded.
            let _recorded = self.recording.acquire_many(recordings).await;
        })
        .await;
        // The heartbeat leaves the registry on `cancel`.
        let _ = heartbeat.await;
    }

    /// Starts the handed-over deliveries that have a slot (and whose endpoint is below its
    /// limit); hands back to the queue those that waited half their lease, and those past
    /// what this node should hold waiting (so another node may take them).
    async fn start_handed(
        self: &Arc<Self>,
        backlog: &mut Backlog,
        handoff: &Handoff,
        slots: &Arc<Semaphore>,
    ) {
        let mut give_back = Vec::new();
        for job in handoff.take() {
            give_back.extend(backlog.push(job));
        }
        if !backlog.is_empty() {
            if let Some(cutoff) = tokio::time::Instant::now().checked_sub(self.config.lease / 2) {
                give_back.extend(backlog.take_older(cutoff));
            }
        }
        // What is left and could go now (its endpoint has room) waits for a node slot.
        let runnable = backlog.start_ready(
            |endpoint| {
                if slots.available_permits() == 0 || !self.has_room(endpoint) {
                    return None;
                }
                slots.clone().try_acquire_owned().ok()
            },
            |job, permit| self.spawn_delivery(job, permit),
            |endpoint| self.has_room(endpoint),
        );
        self.admission.set_waiting(runnable);
        self.release(&give_back).await;
    }

    /// Hands deliveries leased to this node back to the queue.
    async fn release(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .release_deliveries(&self.config.node, ids, self.clock.now_ms())
            .await
        {
            // Their leases run out instead, and any node takes them then.
            tracing::warn!(error = %e, deliveries = ids.len(), "could not hand deliveries back");
        }
    }

    /// Runs one delivery in its own task. It holds `permit` (a slot of this node) and a place
    /// among its endpoint's deliveries in flight until the endpoint has answered; then both go
    /// to the next delivery while the attempt is recorded (under a `recording` permit).
    fn spawn_delivery(self: &Arc<Self>, job: DeliveryJob, permit: OwnedSemaphorePermit) {
        self.admission.started_one();
        let me = self.clone();
        let in_flight = InFlight::start(self, &job.endpoint_id, Some(permit));
        tokio::spawn(async move { me.deliver(job, Some(in_flight)).await });
    }

    /// Delivers everything due now (by the injected clock), waiting for every attempt to be
    /// recorded. Returns how many attempts were made.
    pub async fn run_once(self: &Arc<Self>) -> usize {
        let mut total = 0;
        loop {
            let now = self.clock.now_ms();
            let jobs = match self
                .store
                .claim_due(
                    &self.config.node,
                    now,
                    now + self.config.lease.as_millis() as i64,
                    self.config.batch as i64,
                )
                .await
            {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim deliveries");
                    return total;
                }
            };
            if jobs.is_empty() {
                return total;
            }
            total += jobs.len();
            let mut tasks = Vec::with_capacity(jobs.len());
            for job in jobs {
                let me = self.clone();
                tasks.push(tokio::spawn(async move { me.deliver(job, None).await }));
            }
            for t in tasks {
                let _ = t.await;
            }
        }
    }

    /// Waits until the endpoint's throttle allows a send. The slot comes from the store, so
    /// the rate holds across nodes; if the store cannot keep it, this node keeps it alone.
    async fn throttle(&self, job: &DeliveryJob) {
        let Some(rate) = job.throttle_rate.filter(|r| *r > 0) else {
            return;
        };
        let now = self.clock.now_ms();
        let start = match self
            .store
            .reserve_send_slot(&job.endpoint_id, rate, now)
            .await
        {
            Ok(t) => t,
            Err(_) => {
                // Each node keeps its share of the rate alone (PACE: the live nodes).
                let rate = crate::pace::share_rate(rate as f64, self.pace.share()).max(0.001);
                let gap = (1000.0 / rate).round() as i64;
                let Ok(mut map) = self.throttle.lock() else {
                    return;
                };
                let next = map.get(&job.endpoint_id).copied().unwrap_or(now).max(now);
                map.insert(job.endpoint_id.clone(), next + gap);
                next
            }
        };
        let wait = start - self.clock.now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// Signs, sends and records one delivery. Never fails: a failed attempt is data.
    async fn deliver(&self, mut job: DeliveryJob, in_flight: Option<InFlight>) {
        // ---- before send: pacing (PACE: may this endpoint take a delivery now? If not, it
        // went back to the queue), then the endpoint's throttleRate ----
        let node = &self.config.node;
        let Some(ticket) = self
            .pace
            .before_send(&*self.store, node, &job, &*self.clock, &self.metrics)
            .await
        else {
            return;
        };
        // One span per attempt, a child of the call that queued the message (none unless
        // traces are exported: `traced`).
        let span = traced::attempt_span(&job);
        self.throttle(&job).instrument(span.clone()).await;
        // PACE: latency from here.
        let ticket = ticket.starting_at(self.clock.now_ms());
        // ---- send ----
        // The body moves out of the job: nothing after the send needs it (the record never
        // did), so it is not copied.
        let body = Bytes::from(std::mem::take(&mut job.payload));
        let result = self.send(&job, body).instrument(span.clone()).await;
        traced::record_result(&span, &result);
        // ---- after result: what happens next, then record it ----
        let now = self.clock.now_ms();
        let retry_at = self.retry_at(&job, &result, now);
        // PACE: learn from the outcome; the receiver's pause may move the retry or defer it.
        let (retry_at, note) = match self
            .pace
            .after_send(
                &*self.store,
                node,
                &job,
                ticket,
                &result,
                retry_at,
                now,
                &self.metrics,
            )
            .await
        {
            After::Record { retry_at, note } => (retry_at, note),
            After::Deferred => {
                traced::record_deferred(&span);
                return;
            }
        };
        // The endpoint has answered: its slot and place in flight go to the next delivery
        // while this attempt is recorded (holding a recording permit, and the lease).
        let recording = self.recording.clone().acquire_owned().await.ok();
        drop(in_flight);
        let record = self.outcome(&result, retry_at, note);
        traced::record_outcome(&span, record.success, record.retry_at.is_some());
        self.record(job, record, now).instrument(span).await;
        drop(recording);
    }

    /// Signs `body` (the job's payload) with every live secret and sends it once.
    async fn send(&self, job: &DeliveryJob, body: Bytes) -> dispatch::AttemptResult {
        let secrets: Vec<Secret> = job
            .secrets
            .iter()
            .filter_map(|s| self.vault.open(s).ok())
            .collect();
        if secrets.is_empty() {
            return dispatch_error(
                "the endpoint's signing secret cannot be opened (was --secret-key changed?)",
            );
        }
        let timestamp = self.clock.now_ms() / 1000;
        let signature = signature_header(&secrets, &job.msg_id, timestamp, &body);
        let headers = Headers::signed(&job.msg_id, timestamp, signature).and_then(|mut h| {
            if let Some((name, value)) = traced::outgoing_header(job) {
                h.append(&name, &value)?;
            }
            for (k, v) in &job.headers {
                if let Some(v) = v.as_str() {
                    h.append(k, v)?;
                }
            }
            Ok(h)
        });
        let headers = match headers {
            Ok(headers) => headers,
            // Nothing was sent: a failed attempt, like a refused URL.
            Err(e) => return dispatch_error(&e),
        };
        dispatch::send(
            &self.client,
            &self.urls,
            Request {
                url: &job.url,
                headers,
                body,
            },
        )
        .await
    }

    /// When the schedule retries this attempt, if it does (before the pace has its say).
    fn retry_at(
        &self,
        job: &DeliveryJob,
        result: &dispatch::AttemptResult,
        now: i64,
    ) -> Option<i64> {
        let attempt_no = job.attempts as u32 + 1;
        match &result.failure {
            None => None,
            Some(_) if result.gone || job.trigger_type != Trigger::Scheduled.code() => None,
            Some(f) => self
                .config
                .schedule
                .next_delay(
                    attempt_no,
                    f,
                    result.retry_after,
                    jitter(&mut rand::thread_rng()),
                )
                .map(|d| now + d.as_millis() as i64),
        }
    }

    /// What the attempt means for the delivery, counted in the metrics; `note` (the pace's)
    /// goes in front of the logged response.
    fn outcome(
        &self,
        result: &dispatch::AttemptResult,
        retry_at: Option<i64>,
        note: Option<String>,
    ) -> StoredAttempt {
        let outcome = match (&result.failure, retry_at) {
            (None, _) => Outcome::Success,
            (Some(_), Some(_)) => Outcome::Retry,
            (Some(_), None) => Outcome::Failed,
        };
        self.metrics.record(outcome, result.duration.as_secs_f64());
        let response = match (&result.error, result.body.is_empty()) {
            (Some(e), true) => e.clone(),
            _ => result.body.clone(),
        };
        StoredAttempt {
            status_code: result.status.map(i64::from).unwrap_or(0),
            response: paced::noted(note.as_deref(), response),
            duration_ms: result.duration.as_millis() as i64,
            success: result.failure.is_none(),
            retry_at,
            disable: result.gone.then(|| "gone".to_owned()),
        }
    }

    /// Hands the attempt to the recorder and waits until it is in the store (recorded with
    /// others that finished meanwhile, in one store call).
    async fn record(&self, mut job: DeliveryJob, result: StoredAttempt, now: i64) {
        // The recorder needs the row, not the secrets (the payload went with the request).
        job.secrets.clear();
        job.headers.clear();
        let retry = result.retry_at.is_some();
        let (recorded, done) = oneshot::channel();
        let sent = self.recorder().send(Record {
            done: Completion {
                job,
                result,
                at: now,
            },
            recorded,
        });
        if sent.is_ok() {
            let _ = done.await;
        }
        if retry {
            // The main loop may sleep until a later time; this retry can be due sooner.
            self.rescheduled.notify_one();
        }
    }

    fn recorder(&self) -> &mpsc::UnboundedSender<Record> {
        self.recorder.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(record_loop(
                self.store.clone(),
                self.config.node.clone(),
                rx,
            ));
            tx
        })
    }
}

/// Records finished attempts: takes every one waiting (up to [`RECORD_BATCH`]) and writes them
/// in one store call, so under load one statement covers many deliveries. Ends when the
/// worker is dropped.
async fn record_loop(store: Arc<dyn Store>, node: String, mut rx: mpsc::UnboundedReceiver<Record>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (done, waiting): (Vec<Completion>, Vec<oneshot::Sender<()>>) =
            batch.into_iter().map(|r| (r.done, r.recorded)).unzip();
        // The store may be briefly busy; the attempts happened, so try hard to record them.
        // If they still cannot be recorded, their leases run out and the deliveries are
        // retried: at least once.
        for pause in [10u64, 50, 250, 1000, 0] {
            match store.complete_deliveries(&node, done.clone()).await {
                Ok(()) => break,
                Err(e) if pause > 0 => {
                    tracing::warn!(error = %e, attempts = done.len(), "could not record attempts; retrying");
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempts = done.len(), "could not record attempts; their leases will run out");
                }
            }
        }
        for w in waiting {
            let _ = w.send(());
        }
    }
}

fn dispatch_error(msg: &str) -> dispatch::AttemptResult {
    dispatch::AttemptResult {
        status: None,
        body: String::new(),
        duration: Duration::ZERO,
        failure: Some(crate::retry::Failure::Other),
        retry_after: None,
        gone: false,
        error: Some(msg.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, endpoint: &str) -> DeliveryJob {
        DeliveryJob {
            delivery_id: id,
            account_id: 1,
            msg_id: format!("msg_{id}"),
            endpoint_id: endpoint.to_owned(),
            url: "http://127.0.0.1/hook".to_owned(),
            secrets: Vec::new(),
            headers: serde_json::Map::new(),
            payload: "{}".to_owned(),
            attempts: 0,
            trigger_type: 0,
            throttle_rate: None,
            traceparent: None,
        }
    }

    #[test]
    fn the_backlog_starts_what_has_a_slot_and_counts_what_waits_only_for_one() {
        let mut backlog = Backlog::default();
        for (id, endpoint) in [(1, "a"), (2, "b"), (3, "a"), (4, "b"), (5, "a")] {
            assert_eq!(backlog.push(job(id, endpoint)), None);
        }
        // Two slots, and only `a` has room: its two oldest start; its third waits for a slot
        // only, `b`'s two wait for their endpoint.
        let mut slots = 2;
        let mut started = Vec::new();
        let runnable = backlog.start_ready(
            |endpoint| (endpoint == "a" && slots > 0).then(|| slots -= 1),
            |job, ()| started.push(job.delivery_id),
            |endpoint| endpoint == "a",
        );
        assert_eq!(started, vec![1, 3]);
        assert_eq!(runnable, 1);
        assert_eq!((backlog.len, backlog.bytes), (3, 6));
        // Room and slots for all: everything starts, in each endpoint's arrival order.
        started.clear();
        let runnable = backlog.start_ready(
            |_| Some(()),
            |job, ()| started.push(job.delivery_id),
            |_| true,
        );
        assert_eq!(runnable, 0);
        started.sort_unstable();
        assert_eq!(started, vec![2, 4, 5]);
        assert!(backlog.is_empty() && backlog.queues.is_empty());
        assert_eq!(backlog.bytes, 0);
    }
}
