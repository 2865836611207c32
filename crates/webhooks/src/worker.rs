//! The delivery worker: claims due deliveries from the store's queue under a lease, signs and
//! sends them concurrently, and records each attempt with what happens next.
//!
//! - Wakes when a commit may have queued work (the store's `wakeup`), or when the next retry
//!   falls due; it never polls on a short timer.
//! - Each delivery runs in its own task, so a slow or dead endpoint only holds its own slot.
//! - A delivery is leased for `lease`; if this node dies mid-attempt, the lease runs out and
//!   any node takes it over: at-least-once, never lost.
//! - [`Worker::run_once`] processes everything due at the injected clock's time and returns,
//!   so tests step the worker instead of sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use datahooks_store::webhooks::{AttemptResult as StoredAttempt, DeliveryJob};
use datahooks_store::Store;

use crate::dispatch::{self, Request};
use crate::metrics::{Metrics, Outcome};
use crate::pace::PaceConfig;
use crate::paced::{self, After, Paced};
use crate::retry::{jitter, RetrySchedule};
use crate::signing::{signature_header, Secret};
use crate::ssrf::DestinationPolicy;
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
    /// Most deliveries in flight to one endpoint on this node: one slow or dead endpoint
    /// then holds at most this many of the `concurrency` slots.
    pub endpoint_concurrency: usize,
    /// An endpoint failing without a success for this long is disabled.
    pub failure_window: Duration,
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
            failure_window: Duration::from_secs(5 * 24 * 3600),
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
    policy: Arc<DestinationPolicy>,
    vault: Vault,
    config: WorkerConfig,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Per endpoint, the earliest time (ms) the next send may start (throttling).
    throttle: Mutex<HashMap<String, i64>>,
    /// Deliveries in flight per endpoint on this node.
    inflight: Mutex<HashMap<String, usize>>,
    /// PACE: each endpoint's adaptive limit, the receiver's pauses, down endpoints.
    pace: Paced,
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
            policy,
            vault,
            clock,
            metrics,
            throttle: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            // PACE: the limit grows up to --endpoint-concurrency; a delivery waits for a slot
            // at most a quarter of its lease before going back to the queue.
            pace: Paced::new(
                PaceConfig {
                    max_limit: config.endpoint_concurrency.max(1) as f64,
                    ..PaceConfig::default()
                },
                config.lease / 4,
            ),
            config,
        }
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

    fn track(&self, endpoint: &str, delta: isize) {
        if let Ok(mut m) = self.inflight.lock() {
            let n = m.entry(endpoint.to_owned()).or_insert(0);
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                m.remove(endpoint);
            }
        }
    }

    /// Runs until `cancel`; then lets in-flight deliveries finish (up to the lease).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let wake = self.store.wakeup();
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
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut last_sweep = 0i64;
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let now = self.clock.now_ms();
            if now - last_sweep > 60_000 {
                last_sweep = now;
                let cutoff = now - self.config.failure_window.as_millis() as i64;
                if let Err(e) = self.store.disable_failing_endpoints(cutoff).await {
                    tracing::warn!(error = %e, "could not disable failing endpoints");
                }
            }
            let free = slots.available_permits().min(self.config.batch);
            let mut claimed = 0;
            if free > 0 {
                match self
                    .store
                    .claim_due_except(
                        &self.config.node,
                        now,
                        now + self.config.lease.as_millis() as i64,
                        free as i64,
                        &self.saturated(),
                    )
                    .await
                {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                break;
                            };
                            let me = self.clone();
                            self.track(&job.endpoint_id, 1);
                            tokio::spawn(async move {
                                let endpoint = job.endpoint_id.clone();
                                me.deliver(job).await;
                                me.track(&endpoint, -1);
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim deliveries");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
            if claimed > 0 && claimed == free {
                continue; // there may be more due right now
            }
            if free == 0 {
                // Saturated: wait for a slot, not for new work.
                tokio::select! {
                    p = slots.clone().acquire_owned() => drop(p),
                    _ = cancel.cancelled() => break,
                }
                continue;
            }
            let wait = match self.store.next_due().await {
                Ok(Some(t)) => {
                    Duration::from_millis((t - self.clock.now_ms()).clamp(0, 30_000) as u64)
                }
                _ => Duration::from_secs(30),
            };
            if wait.is_zero() && claimed == 0 {
                // Due work exists but none could be claimed (held by a live lease elsewhere).
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            tokio::select! {
                _ = wake.notified() => {},
                _ = tokio::time::sleep(wait) => {},
                _ = cancel.cancelled() => break,
            }
        }
        // Graceful stop: wait for in-flight deliveries; what does not finish is left to its
        // lease and taken over by another node (or by this one after a restart).
        let all = self.config.concurrency.max(1) as u32;
        let _ = tokio::time::timeout(self.config.lease, slots.acquire_many(all)).await;
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
                tasks.push(tokio::spawn(async move { me.deliver(job).await }));
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
                let gap = 1000 / rate.max(1);
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
    async fn deliver(&self, job: DeliveryJob) {
        // PACE: may this endpoint take a delivery now? If not, it went back to the queue.
        let node = &self.config.node;
        let Some(ticket) = self
            .pace
            .before_send(&*self.store, node, &job, &*self.clock, &self.metrics)
            .await
        else {
            return;
        };
        self.throttle(&job).await;
        let ticket = ticket.starting_at(self.clock.now_ms()); // PACE: latency from here
        let secrets: Vec<Secret> = job
            .secrets
            .iter()
            .filter_map(|s| self.vault.open(s).ok())
            .collect();
        let timestamp = self.clock.now_ms() / 1000;
        let body = Bytes::from(job.payload.clone());
        let signature = signature_header(&secrets, &job.msg_id, timestamp, &body);
        let ts = timestamp.to_string();
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("webhook-id".to_owned(), job.msg_id.clone()),
            ("webhook-timestamp".to_owned(), ts.clone()),
            ("webhook-signature".to_owned(), signature.clone()),
            ("svix-id".to_owned(), job.msg_id.clone()),
            ("svix-timestamp".to_owned(), ts),
            ("svix-signature".to_owned(), signature),
        ];
        for (k, v) in &job.headers {
            if let Some(v) = v.as_str() {
                headers.push((k.clone(), v.to_owned()));
            }
        }
        let result = if secrets.is_empty() {
            dispatch_error(
                "the endpoint's signing secret cannot be opened (was --secret-key changed?)",
            )
        } else {
            dispatch::send(
                &self.client,
                &self.policy,
                Request {
                    url: &job.url,
                    headers,
                    body,
                },
            )
            .await
        };
        let now = self.clock.now_ms();
        let attempt_no = job.attempts as u32 + 1;
        let retry_at = match &result.failure {
            None => None,
            Some(_) if result.gone || job.trigger_type != 0 => None,
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
        };
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
            After::Deferred => return,
        };
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
        let record = StoredAttempt {
            status_code: result.status.map(i64::from).unwrap_or(0),
            response: paced::noted(note.as_deref(), response),
            duration_ms: result.duration.as_millis() as i64,
            success: result.failure.is_none(),
            retry_at,
            disable: result.gone.then(|| "gone".to_owned()),
        };
        // The store may be briefly busy; the attempt happened, so try hard to record it. If it
        // still cannot be recorded, the lease runs out and the delivery is retried: at least once.
        for pause in [10u64, 50, 250, 1000] {
            match self
                .store
                .complete_delivery(&self.config.node, &job, record.clone(), now)
                .await
            {
                Ok(()) => {
                    if record.retry_at.is_some() {
                        // The main loop may sleep until a later time; this retry can be due
                        // sooner, so let it look again.
                        self.store.wakeup().notify_one();
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, msg = %job.msg_id, "could not record attempt; retrying");
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
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
