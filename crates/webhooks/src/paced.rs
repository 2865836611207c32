//! The worker's side of the pace ([`crate::pace`]): this node's [`Pace`] behind a mutex,
//! the wait for a free slot, and the store calls its verdicts lead to.
//!
//! The worker calls exactly two hooks per delivery: [`Paced::before_send`] ("may I send to
//! this endpoint now?"; if not, the delivery goes back to the queue, deferred, and the worker
//! stops) and [`Paced::after_send`] ("this was the outcome"; it may defer the delivery instead
//! of recording a failure). Its claims also pass over [`Paced::blocked`] endpoints.
//!
//! Across nodes, a pause or a down endpoint is written into the shared queue
//! ([`WebhookStore::hold_endpoint`]: the endpoint's waiting deliveries become due when it
//! ends), so every node obeys it. The learned limit is the endpoint's: each node sends only its
//! share of it among the live worker nodes ([`crate::nodes`], [`crate::pace::share`]); the
//! rate learned from 429s is measured from what each node itself got through, so it is a
//! share already (see ARCHITECTURE.md, "Pace").

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use datahooks_store::webhooks::{AttemptResult as StoredAttempt, DeliveryJob, PaceRecord};
use datahooks_store::Store;

use crate::dispatch::AttemptResult;
use crate::metrics::{Deferral, Metrics};
use crate::pace::{Admit, Hold, Pace, PaceConfig, Share, Signal, State, Ticket, Verdict, View};
use crate::worker::Clock;

/// How often, at most, a busy endpoint's pace record is saved when only its figures moved.
const SAVE_EVERY_MS: i64 = 1_000;
/// A learned-rate slot this close is waited for in place; a later one defers the delivery.
const RATE_WAIT_MS: i64 = 2_000;

/// What the worker does after an attempt, by the pace's word.
#[derive(Debug, Clone, PartialEq)]
pub enum After {
    /// Record the attempt; `retry_at` replaces the schedule's time when the receiver asked
    /// for a pause, and `note` is put before the logged response.
    Record {
        /// When to retry.
        retry_at: Option<i64>,
        /// Why, for the attempt log.
        note: Option<String>,
    },
    /// The pace deferred the delivery (a refusal of a send already in flight): nothing to
    /// record.
    Deferred,
}

/// This node's pace of every endpoint, shared by the worker's delivery tasks.
pub struct Paced {
    pace: Mutex<Pace>,
    /// Per endpoint, woken when a slot frees or the state changes.
    freed: Mutex<HashMap<String, Arc<Notify>>>,
    /// Per endpoint, the last saved record and when it was saved.
    saved: Mutex<HashMap<String, (i64, PaceRecord)>>,
    /// Longest wait for a free slot before the delivery goes back to the queue (well inside
    /// the lease, so a waiting delivery is never taken over by another node).
    max_wait: Duration,
}

impl Paced {
    /// A pace with `cfg`; deliveries wait at most `max_wait` for a slot.
    pub fn new(cfg: PaceConfig, max_wait: Duration) -> Paced {
        Paced {
            pace: Mutex::new(Pace::new(cfg)),
            freed: Mutex::new(HashMap::new()),
            saved: Mutex::new(HashMap::new()),
            max_wait,
        }
    }

    fn pace(&self) -> MutexGuard<'_, Pace> {
        // The pace is plain data updated in short critical sections: a panic elsewhere cannot
        // leave it half-changed in a way that matters more than losing what it learned.
        self.pace.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, endpoint: &str) -> Arc<Notify> {
        let mut map = self.freed.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(endpoint.to_owned()).or_default().clone()
    }

    /// Endpoints a claim should pass over now: paused by the receiver, or down.
    pub fn blocked(&self, now: i64) -> Vec<String> {
        let blocked = self.pace().blocked(now);
        let mut freed = self.freed.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the wake-ups of endpoints nobody waits for.
        freed.retain(|_, n| Arc::strong_count(n) > 1);
        blocked
    }

    /// When the soonest pause or down state of this node's endpoints ends (unix ms).
    pub fn next_unblock(&self, now: i64) -> Option<i64> {
        self.pace().next_unblock(now)
    }

    /// Sets this node's place among the live worker nodes; endpoints whose share grew let
    /// their waiting deliveries look again.
    pub fn set_share(&self, part: Share) {
        let before = {
            let mut pace = self.pace();
            let before = pace.share();
            pace.set_share(part);
            before
        };
        if before != part {
            let freed = self.freed.lock().unwrap_or_else(|e| e.into_inner());
            for wake in freed.values() {
                wake.notify_waiters();
            }
        }
    }

    /// This node's place among the live worker nodes.
    pub fn share(&self) -> Share {
        self.pace().share()
    }

    /// This node's view of an endpoint's pace.
    pub fn view(&self, endpoint: &str, now: i64) -> Option<View> {
        self.pace().view(endpoint, now)
    }

    /// PACE HOOK, before a send: `Some(ticket)` to send now (after waiting briefly for a slot
    /// or the learned rate), or `None` when the delivery was deferred back to the queue.
    pub async fn before_send(
        &self,
        store: &dyn Store,
        node: &str,
        job: &DeliveryJob,
        clock: &dyn Clock,
        metrics: &Metrics,
    ) -> Option<Ticket> {
        let started = Instant::now();
        let wake = self.notify(&job.endpoint_id);
        loop {
            let woken = wake.notified();
            let now = clock.now_ms();
            let admit = self.pace().admit(&job.endpoint_id, now);
            let (hold, until) = match admit {
                Admit::Go(ticket) => return Some(ticket),
                Admit::Wait { hold, until } => (hold, until),
            };
            let waited = started.elapsed();
            match hold {
                Hold::Full if waited < self.max_wait => {
                    let _ = tokio::time::timeout(self.max_wait - waited, woken).await;
                    continue;
                }
                Hold::Rate if until - now <= RATE_WAIT_MS => {
                    tokio::time::sleep(Duration::from_millis((until - now).max(1) as u64)).await;
                    continue;
                }
                _ => {}
            }
            let why = match hold {
                Hold::Paused => Deferral::Paused,
                Hold::Down => Deferral::Down,
                Hold::Full | Hold::Rate => Deferral::Busy,
            };
            metrics.deferred(why);
            defer(store, node, job, until.max(now), None, now).await;
            return None;
        }
    }

    /// PACE HOOK, after a send: learns from the outcome and says what to record. `retry_at`
    /// is when the retry schedule would try again.
    #[allow(clippy::too_many_arguments)]
    pub async fn after_send(
        &self,
        store: &dyn Store,
        node: &str,
        job: &DeliveryJob,
        ticket: Ticket,
        result: &AttemptResult,
        retry_at: Option<i64>,
        now: i64,
        metrics: &Metrics,
    ) -> After {
        let signal = Signal::of(result.failure.as_ref(), result.retry_after);
        let was_probe = matches!(
            self.view(&job.endpoint_id, now).map(|v| v.state),
            Some(State::Probing)
        );
        let verdict = self
            .pace()
            .finish(&job.endpoint_id, ticket, now, signal, retry_at);
        let wake = self.notify(&job.endpoint_id);
        // A new pause or a down endpoint holds the endpoint's queue; a refusal that belongs to
        // a pause already held does not need to again.
        let hold = matches!(
            verdict,
            Verdict::Paused { first: true, .. } | Verdict::Down { .. }
        );
        let after = match verdict {
            Verdict::Done => {
                if was_probe {
                    // The endpoint answered its probe: every held delivery may go now.
                    wake.notify_waiters();
                } else {
                    wake.notify_one();
                }
                self.save(store, &job.endpoint_id, now, false).await;
                return After::Record {
                    retry_at,
                    note: None,
                };
            }
            Verdict::Paused { until, first } => {
                let secs = (until - now) as f64 / 1000.0;
                let note = format!("throttled by receiver: endpoint paused for {secs:.1} s");
                if first {
                    // The refusal that began the pause is a failed attempt, retried when the
                    // pause ends rather than after the schedule's delay (unless none is left).
                    After::Record {
                        retry_at: retry_at.map(|_| until),
                        note: Some(note),
                    }
                } else {
                    metrics.deferred(Deferral::Refused);
                    let refusal = StoredAttempt {
                        status_code: result.status.map(i64::from).unwrap_or(0),
                        response: with_note(&note, &result.body),
                        duration_ms: result.duration.as_millis() as i64,
                        success: false,
                        retry_at: None,
                        disable: None,
                    };
                    defer(store, node, job, until, Some(refusal), now).await;
                    After::Deferred
                }
            }
            Verdict::Down { probe_at } => After::Record {
                retry_at: retry_at.map(|t| t.max(probe_at)),
                note: Some("endpoint down: one delivery probes it on the retry schedule".into()),
            },
        };
        // The state changed: everyone waiting looks again, and the endpoint's queue waits.
        wake.notify_waiters();
        if !hold {
            return after;
        }
        let state = self.view(&job.endpoint_id, now).map(|v| v.state);
        if let (Some(until), Some(record)) = (
            state.and_then(|s| s.until()),
            self.record(&job.endpoint_id, now),
        ) {
            let why = match state {
                Some(State::Paused(_)) => Deferral::Paused,
                _ => Deferral::Down,
            };
            match store.hold_endpoint(&job.endpoint_id, until, &record).await {
                Ok(n) => metrics.deferred_many(why, n),
                Err(e) => {
                    tracing::warn!(error = %e, endpoint = %job.endpoint_id, "could not hold the endpoint's queue")
                }
            }
            self.remember(&job.endpoint_id, now, record);
        }
        after
    }

    fn record(&self, endpoint: &str, now: i64) -> Option<PaceRecord> {
        let v = self.view(endpoint, now)?;
        Some(PaceRecord {
            state: v.state.name().to_owned(),
            until: v.state.until(),
            limit: i64::from(v.limit),
            rate_cap: v.rate_cap.map(|r| (r * 10.0).round() / 10.0),
            recent_rate: (v.recent_rate * 10.0).round() / 10.0,
            updated_at: now,
        })
    }

    fn remember(&self, endpoint: &str, now: i64, record: PaceRecord) {
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if saved.len() > 10_000 {
            saved.clear();
        }
        saved.insert(endpoint.to_owned(), (now, record));
    }

    /// Saves the endpoint's pace record when its state changed, or its figures moved and the
    /// last save is older than [`SAVE_EVERY_MS`].
    async fn save(&self, store: &dyn Store, endpoint: &str, now: i64, force: bool) {
        let Some(record) = self.record(endpoint, now) else {
            return;
        };
        let due = {
            let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
            match saved.get(endpoint) {
                None => true,
                Some((at, last)) => {
                    force
                        || last.state != record.state
                        || ((last.limit != record.limit
                            || last.rate_cap != record.rate_cap
                            || last.recent_rate != record.recent_rate)
                            && now - at >= SAVE_EVERY_MS)
                }
            }
        };
        if !due {
            return;
        }
        self.remember(endpoint, now, record.clone());
        if let Err(e) = store.save_pace(endpoint, &record).await {
            tracing::debug!(error = %e, endpoint, "could not save the endpoint's pace");
        }
    }
}

fn with_note(note: &str, body: &str) -> String {
    if body.is_empty() {
        note.to_owned()
    } else {
        format!("{note}; {body}")
    }
}

/// The note before a logged response (used by the worker for the refusal it records).
pub fn noted(note: Option<&str>, response: String) -> String {
    match note {
        Some(n) => with_note(n, &response),
        None => response,
    }
}

/// Gives a delivery back to the queue; if the store cannot take it, its lease runs out and
/// it is claimed again, so nothing is lost either way.
async fn defer(
    store: &dyn Store,
    node: &str,
    job: &DeliveryJob,
    until: i64,
    refusal: Option<StoredAttempt>,
    now: i64,
) {
    for pause in [10u64, 50, 250] {
        match store
            .defer_delivery(node, job, until, refusal.clone(), now)
            .await
        {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, msg = %job.msg_id, "could not defer a delivery; retrying");
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

/// An endpoint's pace as people see it (the stats API and the endpoint page), from the
/// record a worker last saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// `open`, `paused`, `down` or `probing`.
    pub state: &'static str,
    /// End of the pause, or time of the next probe (unix ms).
    pub until: Option<i64>,
    /// Deliveries the endpoint may have in flight.
    pub limit: i64,
    /// The send rate learned from 429s, per second.
    pub rate_cap: Option<f64>,
    /// Successful deliveries per second over the last 10 s.
    pub recent_rate: f64,
}

/// How long a saved recent rate stays true without a fresh save: the worker saves at least
/// once a second while it delivers, so an older figure means the endpoint went quiet.
const RECENT_FOR_MS: i64 = 10_000;

/// Reads a saved pace record at `now`: a pause that ended shows as open, a probe time that
/// passed as probing, an old recent rate as 0, and no record (nothing sent since the upgrade)
/// as open at the initial limit.
pub fn shown(record: Option<&PaceRecord>, now: i64) -> Shown {
    let Some(r) = record else {
        return Shown {
            state: "open",
            until: None,
            limit: PaceConfig::default().initial_limit as i64,
            rate_cap: None,
            recent_rate: 0.0,
        };
    };
    let running = r.until.is_some_and(|t| t > now);
    let (state, until) = match r.state.as_str() {
        "paused" if running => ("paused", r.until),
        "down" if running => ("down", r.until),
        "down" | "probing" => ("probing", None),
        _ => ("open", None),
    };
    Shown {
        state,
        until,
        limit: r.limit,
        rate_cap: r.rate_cap,
        recent_rate: if now - r.updated_at <= RECENT_FOR_MS {
            r.recent_rate
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: &str, until: Option<i64>) -> PaceRecord {
        PaceRecord {
            state: state.into(),
            until,
            limit: 7,
            rate_cap: Some(38.0),
            recent_rate: 12.5,
            updated_at: 1_000,
        }
    }

    #[test]
    fn a_saved_pace_is_shown_as_of_now() {
        let s = shown(Some(&rec("paused", Some(5_000))), 2_000);
        assert_eq!((s.state, s.until, s.limit), ("paused", Some(5_000), 7));
        assert_eq!((s.rate_cap, s.recent_rate), (Some(38.0), 12.5));
        assert_eq!(
            shown(Some(&rec("paused", Some(5_000))), 5_000).state,
            "open"
        );
        assert_eq!(shown(Some(&rec("down", Some(5_000))), 4_000).state, "down");
        assert_eq!(
            shown(Some(&rec("down", Some(5_000))), 6_000).state,
            "probing"
        );
        assert_eq!(shown(Some(&rec("probing", None)), 2_000).state, "probing");
        assert_eq!(shown(Some(&rec("open", None)), 20_000).recent_rate, 0.0);
        let none = shown(None, 0);
        assert_eq!((none.state, none.limit, none.rate_cap), ("open", 4, None));
    }
}
