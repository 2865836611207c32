//! The pace of deliveries to each endpoint, learned from how the receiver answers.
//!
//! A pure state machine (no clock, no I/O: every call takes `now` in unix ms) that the worker
//! asks before each send ([`Pace::admit`]) and tells after it ([`Pace::finish`]):
//!
//! - **Adaptive concurrency** (AIMD, as TCP congestion control): an endpoint starts at
//!   [`PaceConfig::initial_limit`] deliveries in flight, doubles per round trip while answers
//!   come back fast and successful (slow start), then grows by one per round trip; answers
//!   that queue (over twice the endpoint's usual latency) take one off per round trip. Timeouts,
//!   refused or reset connections, a 503, a 429 and answers much slower than the endpoint's
//!   usual latency halve it, at most once per round trip. Never below 1, never above
//!   [`PaceConfig::max_limit`] (`--endpoint-concurrency`); `throttleRate` is still enforced
//!   by the worker as a hard cap on top.
//! - **The receiver's word**: a 429 or 503 with `Retry-After` (seconds or HTTP date, already
//!   parsed by `dispatch`) and a 429 without it pause the whole endpoint until then (without
//!   a hint: 1 s, doubling while the receiver keeps refusing). Deliveries held back are
//!   deferred by the caller, not failed. A 429 also teaches a send *rate*: what the receiver
//!   accepted since the previous 429, which then grows by about one per second per second.
//! - **A dead endpoint is one thing**: [`PaceConfig::down_after`] connection failures in a
//!   row mark the endpoint down until the failing delivery's next retry; then exactly one
//!   delivery probes it, and when it answers, the held ones drain at the learned limit.
//!
//! - **Across nodes** the limit is the endpoint's, not each node's: every worker node
//!   registers with a heartbeat, and a node uses only its [`Share`] of the limit (the limit
//!   split as evenly as possible among the live nodes, see [`share`]), so three nodes do not
//!   put three times the limit on a receiver. Each node still learns the limit from the
//!   answers it gets; since all nodes hear the same receiver, their limits agree closely.
//!
//! Why start at 4: a plain single-threaded server (Python's `http.server`, listen backlog 5)
//! holds one request being served plus five waiting; four in flight never overflows it, while
//! slow start still reaches 64 in four round trips for a receiver that keeps up.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::retry::Failure;

/// Tuning of the pace; the defaults are what `serve` uses.
#[derive(Debug, Clone, PartialEq)]
pub struct PaceConfig {
    /// Deliveries in flight to an endpoint the pace has not learned anything about yet.
    pub initial_limit: f64,
    /// Most deliveries in flight to one endpoint (`--endpoint-concurrency`).
    pub max_limit: f64,
    /// Slow start (doubling per round trip) ends at this limit until the first congestion
    /// signal sets its own threshold; above it the limit grows by one per round trip. Kept
    /// small so a receiver that refuses beyond a quota sees few sends in flight when it does.
    pub slow_start_until: f64,
    /// Connection failures in a row after which the endpoint counts as down.
    pub down_after: u32,
    /// Pause after a 429 without `Retry-After`; doubles with each further refusal in a row.
    pub default_pause: Duration,
    /// Shortest pause after a refusal, even if the receiver asks for less (`Retry-After: 0`
    /// would otherwise let a refusing receiver spin us).
    pub min_pause: Duration,
    /// Longest pause a receiver can ask for (a later date is cut to this).
    pub max_pause: Duration,
    /// An answer this many times slower than the endpoint's usual latency (and at least
    /// [`PaceConfig::slow_margin`] slower) counts as congestion.
    pub slow_factor: f64,
    /// See [`PaceConfig::slow_factor`]: absolute margin, so loopback jitter is not congestion.
    pub slow_margin: Duration,
    /// How long to probe a down endpoint again when the failed delivery has no retry left.
    pub down_retry: Duration,
}

impl Default for PaceConfig {
    fn default() -> Self {
        PaceConfig {
            initial_limit: 4.0,
            max_limit: 64.0,
            slow_start_until: 16.0,
            down_after: 5,
            default_pause: Duration::from_secs(1),
            min_pause: Duration::from_secs(1),
            max_pause: Duration::from_secs(3600),
            slow_factor: 4.0,
            slow_margin: Duration::from_millis(250),
            down_retry: Duration::from_secs(300),
        }
    }
}

/// What one attempt says about the receiver's capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// 2xx.
    Success,
    /// The receiver asked us to wait: a 429 (with or without `Retry-After`) or a 503 with it.
    Throttled(Option<Duration>),
    /// Overloaded but said nothing: a timeout, or a 503 without `Retry-After`.
    Overload,
    /// The connection could not be made or was refused or reset.
    ConnectFailed,
    /// Any other answer (a 400, a 500…): the receiver is up; nothing about its capacity.
    Neutral,
}

impl Signal {
    /// Reads an attempt's outcome: `failure` as `dispatch` classified it and the
    /// receiver's `Retry-After`.
    pub fn of(failure: Option<&Failure>, retry_after: Option<Duration>) -> Signal {
        match failure {
            None => Signal::Success,
            Some(Failure::Status(429)) => Signal::Throttled(retry_after),
            Some(Failure::Status(503)) if retry_after.is_some() => Signal::Throttled(retry_after),
            Some(Failure::Status(503)) | Some(Failure::Timeout) => Signal::Overload,
            Some(Failure::Connect) => Signal::ConnectFailed,
            Some(Failure::Status(_)) | Some(Failure::Other) => Signal::Neutral,
        }
    }
}

/// Why a delivery may not be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The receiver asked for a pause until `until`: defer the delivery until then.
    Paused,
    /// The endpoint is down; a probe goes at `until`: defer the delivery until then.
    Down,
    /// As many deliveries are in flight as the limit allows: wait for one to finish.
    Full,
    /// The learned send rate allows the next send at `until` (soon): wait until then.
    Rate,
}

/// The answer to "may I send to this endpoint now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Send; hand the ticket back to [`Pace::finish`].
    Go(Ticket),
    /// Not now (see [`Hold`]); `until` is unix ms.
    Wait {
        /// Why.
        hold: Hold,
        /// When to ask again.
        until: i64,
    },
}

/// One admitted send, so its outcome is matched to the round trip it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    seq: u64,
    started: i64,
    /// This send filled the limit: the endpoint was running at it, not below (a trickle of
    /// sends to a healthy receiver says nothing about its queue).
    busy: bool,
}

impl Ticket {
    /// The same ticket, its send starting at `now`: time spent waiting before the send (for
    /// `throttleRate`'s slot) is not the receiver's latency.
    pub fn starting_at(self, now: i64) -> Ticket {
        Ticket {
            started: now.max(self.started),
            ..self
        }
    }
}

/// This node's place among the live worker nodes, which decides its share of each endpoint's
/// limit (see [`share`]). One node alone (SQLite, or before the first heartbeat) has it all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Live worker nodes, this one included (at least 1).
    pub nodes: u32,
    /// This node's position among them, sorted by name (0-based).
    pub rank: u32,
}

impl Default for Share {
    fn default() -> Self {
        Share { nodes: 1, rank: 0 }
    }
}

impl Share {
    /// The share of `node` among the `live` node names (sorted or not); a node missing from
    /// the list (its own heartbeat not yet written) counts itself in.
    pub fn among(live: &[String], node: &str) -> Share {
        let mut names: Vec<&str> = live.iter().map(String::as_str).collect();
        if !names.contains(&node) {
            names.push(node);
        }
        names.sort_unstable();
        names.dedup();
        let rank = names.iter().position(|n| *n == node).unwrap_or(0);
        Share {
            nodes: u32::try_from(names.len()).unwrap_or(u32::MAX).max(1),
            rank: u32::try_from(rank).unwrap_or(0),
        }
    }
}

/// How many of an endpoint's `limit` deliveries in flight this node may have: the limit split
/// as evenly as possible among `share.nodes`, the remainder going to the first ranks, so the
/// shares add up to exactly `limit`; but never below 1, so with more nodes than the limit the
/// total is the number of nodes (each must be able to send, or its deliveries would wait on
/// nothing).
pub fn share(limit: u32, share: Share) -> u32 {
    let nodes = share.nodes.max(1);
    let rank = share.rank.min(nodes - 1);
    let extra = u32::from(rank < limit % nodes);
    (limit / nodes + extra).max(1)
}

/// A hard per-second cap (`throttleRate`) split among the live nodes, for when the shared
/// send slot in the store cannot be used and each node keeps the rate alone.
pub fn share_rate(rate: f64, share: Share) -> f64 {
    rate / f64::from(share.nodes.max(1))
}

/// What the caller must do after an outcome, beyond recording it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing more.
    Done,
    /// The receiver paused the endpoint until `until` (unix ms); the endpoint's queued
    /// deliveries wait until then. The refusal that began the pause (`first`) is a failed
    /// attempt retried when the pause ends; refusals of sends already in flight are the same
    /// refusal, so those deliveries are deferred without counting an attempt.
    Paused {
        /// End of the pause.
        until: i64,
        /// This refusal began the pause.
        first: bool,
    },
    /// The endpoint is down: its queued deliveries wait for the probe at `probe_at`.
    Down {
        /// When one delivery probes it.
        probe_at: i64,
    },
}

/// An endpoint's pace state as shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Sending at the learned limit.
    Open,
    /// Paused by the receiver until a time (unix ms).
    Paused(i64),
    /// Down: one delivery probes it at a time (unix ms).
    Down(i64),
    /// Down, and the probe is in flight.
    Probing,
}

impl State {
    /// `open`, `paused`, `down` or `probing`.
    pub fn name(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Paused(_) => "paused",
            State::Down(_) => "down",
            State::Probing => "probing",
        }
    }

    /// The end of a pause or the time of the next probe.
    pub fn until(self) -> Option<i64> {
        match self {
            State::Paused(t) | State::Down(t) => Some(t),
            State::Open | State::Probing => None,
        }
    }
}

/// A snapshot of one endpoint's pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Open, paused, down or probing.
    pub state: State,
    /// Deliveries it may have in flight (from all nodes together).
    pub limit: u32,
    /// This node's share of `limit` (see [`share`]).
    pub node_limit: u32,
    /// Deliveries in flight now (from this node).
    pub in_flight: u32,
    /// The send rate learned from 429s (per second), if any.
    pub rate_cap: Option<f64>,
    /// Successful deliveries per second over the last 10 s.
    pub recent_rate: f64,
}

/// Seconds of history behind [`View::recent_rate`].
const RATE_WINDOW_SECS: i64 = 10;
/// The usual latency is the least of this window and the previous one (ms).
const BASE_WINDOW_MS: i64 = 10_000;
/// An idle endpoint's state is forgotten after this long (ms).
const FORGET_AFTER_MS: i64 = 600_000;

#[derive(Debug, Clone)]
struct Endpoint {
    limit: f64,
    /// Below this, the limit doubles per round trip (slow start); above, it grows by one.
    threshold: f64,
    in_flight: u32,
    next_seq: u64,
    /// Outcomes of sends admitted before this cut no further.
    cut_seq: u64,
    /// Usual latency (ms): the least seen in this and the previous window of
    /// [`BASE_WINDOW_MS`] (as BBR keeps its minimum RTT), so queueing cannot pass for normal.
    base_cur: f64,
    base_prev: f64,
    base_since: i64,
    paused_until: i64,
    pause_streak: u32,
    connect_failures: u32,
    /// When down: the time of the next probe.
    down_until: Option<i64>,
    rate_cap: Option<f64>,
    rate_next: i64,
    /// Start of the current measuring span: the last 429, else the first success.
    span_start: Option<i64>,
    /// Whether `span_start` is a 429 (whose pause is inside the span) or a first success.
    span_after_pause: bool,
    ok_since_throttle: u32,
    /// Successes per second, newest last: `(unix second, count)`.
    recent: VecDeque<(i64, u32)>,
    last_used: i64,
}

impl Endpoint {
    fn new(cfg: &PaceConfig, now: i64) -> Endpoint {
        Endpoint {
            limit: cfg.initial_limit.clamp(1.0, cfg.max_limit.max(1.0)),
            threshold: cfg.slow_start_until,
            in_flight: 0,
            next_seq: 0,
            cut_seq: 0,
            base_cur: f64::INFINITY,
            base_prev: f64::INFINITY,
            base_since: now,
            paused_until: 0,
            pause_streak: 0,
            connect_failures: 0,
            down_until: None,
            rate_cap: None,
            rate_next: 0,
            span_start: None,
            span_after_pause: false,
            ok_since_throttle: 0,
            recent: VecDeque::new(),
            last_used: now,
        }
    }

    /// The endpoint's whole limit, in deliveries.
    fn slots(&self) -> u32 {
        // `limit` is at least 1 and at most max_limit, so the cast cannot overflow.
        // The epsilon absorbs rounding in sums of 1/n steps.
        (self.limit + 1e-9).floor().max(1.0) as u32
    }

    /// This node's part of [`Endpoint::slots`].
    fn mine(&self, part: Share) -> u32 {
        share(self.slots(), part)
    }

    fn state(&self, now: i64) -> State {
        match self.down_until {
            Some(_) if self.in_flight > 0 => State::Probing,
            Some(t) => State::Down(t),
            None if self.paused_until > now => State::Paused(self.paused_until),
            None => State::Open,
        }
    }

    /// Halves the limit, once per round trip: the sends admitted before the last cut saw
    /// the same congestion and must not cut again.
    fn cut(&mut self, ticket: Ticket) {
        if ticket.seq < self.cut_seq {
            return;
        }
        self.limit = (self.limit / 2.0).max(1.0);
        self.threshold = self.limit;
        self.cut_seq = self.next_seq;
    }

    fn grow(&mut self, max: f64, part: Share) {
        self.limit = if self.limit < self.threshold {
            self.limit + 1.0
        } else {
            // One per round trip of this node's sends.
            self.limit + 1.0 / f64::from(self.mine(part))
        }
        .min(max.max(1.0));
    }

    fn count_success(&mut self, now: i64) {
        let sec = now.div_euclid(1000);
        match self.recent.back_mut() {
            Some((s, n)) if *s == sec => *n += 1,
            _ => self.recent.push_back((sec, 1)),
        }
        self.trim(now);
    }

    fn trim(&mut self, now: i64) {
        let oldest = now.div_euclid(1000) - RATE_WINDOW_SECS;
        while self.recent.front().is_some_and(|(s, _)| *s < oldest) {
            self.recent.pop_front();
        }
    }

    fn recent_rate(&self, now: i64) -> f64 {
        let oldest = now.div_euclid(1000) - RATE_WINDOW_SECS;
        let n: u32 = self
            .recent
            .iter()
            .filter(|(s, _)| *s >= oldest)
            .map(|(_, n)| *n)
            .sum();
        f64::from(n) / RATE_WINDOW_SECS as f64
    }
}

/// The pace of every endpoint this node sends to.
#[derive(Debug, Clone)]
pub struct Pace {
    cfg: PaceConfig,
    endpoints: HashMap<String, Endpoint>,
    part: Share,
}

impl Pace {
    /// No endpoint known yet.
    pub fn new(cfg: PaceConfig) -> Pace {
        Pace {
            cfg,
            endpoints: HashMap::new(),
            part: Share::default(),
        }
    }

    /// Sets this node's place among the live nodes (from the node registry's heartbeat).
    pub fn set_share(&mut self, part: Share) {
        self.part = part;
    }

    /// This node's place among the live nodes.
    pub fn share(&self) -> Share {
        self.part
    }

    /// May a delivery to `endpoint` be sent now? `Go` counts it as in flight until
    /// [`Pace::finish`].
    pub fn admit(&mut self, endpoint: &str, now: i64) -> Admit {
        let cfg = &self.cfg;
        let part = self.part;
        let e = self
            .endpoints
            .entry(endpoint.to_owned())
            .or_insert_with(|| Endpoint::new(cfg, now));
        e.last_used = now;
        if let Some(probe_at) = e.down_until {
            if now < probe_at {
                return Admit::Wait {
                    hold: Hold::Down,
                    until: probe_at,
                };
            }
            if e.in_flight > 0 {
                // The probe is out: the others wait for its answer.
                return Admit::Wait {
                    hold: Hold::Full,
                    until: now,
                };
            }
        } else if e.paused_until > now {
            return Admit::Wait {
                hold: Hold::Paused,
                until: e.paused_until,
            };
        } else if e.in_flight >= e.mine(part) {
            return Admit::Wait {
                hold: Hold::Full,
                until: now,
            };
        }
        if let Some(rate) = e.rate_cap {
            if e.rate_next > now {
                return Admit::Wait {
                    hold: Hold::Rate,
                    until: e.rate_next,
                };
            }
            let gap = (1000.0 / rate.max(0.001)).round() as i64;
            e.rate_next = e.rate_next.max(now - gap) + gap;
        }
        e.in_flight += 1;
        let seq = e.next_seq;
        e.next_seq += 1;
        Admit::Go(Ticket {
            seq,
            started: now,
            busy: e.in_flight >= e.mine(part),
        })
    }

    /// Records the outcome of an admitted send. `retry_at` is when the delivery's own retry
    /// schedule would try again (the time of the probe if this makes the endpoint down).
    pub fn finish(
        &mut self,
        endpoint: &str,
        ticket: Ticket,
        now: i64,
        signal: Signal,
        retry_at: Option<i64>,
    ) -> Verdict {
        let cfg = &self.cfg;
        let part = self.part;
        let Some(e) = self.endpoints.get_mut(endpoint) else {
            return Verdict::Done;
        };
        e.in_flight = e.in_flight.saturating_sub(1);
        e.last_used = now;
        let latency = (now - ticket.started).max(0) as f64;
        match signal {
            Signal::Success => {
                e.connect_failures = 0;
                e.down_until = None;
                e.pause_streak = 0;
                e.ok_since_throttle = e.ok_since_throttle.saturating_add(1);
                e.span_start.get_or_insert(ticket.started);
                e.count_success(now);
                if now - e.base_since >= BASE_WINDOW_MS {
                    e.base_prev = e.base_cur;
                    e.base_cur = f64::INFINITY;
                    e.base_since = now;
                }
                e.base_cur = e.base_cur.min(latency);
                let base = e.base_cur.min(e.base_prev);
                let slow_margin = cfg.slow_margin.as_millis() as f64;
                if latency > (base * cfg.slow_factor).max(base + slow_margin) {
                    // Answered, but only after queueing (e.g. a SYN retransmitted because
                    // the listen backlog was full): too many in flight.
                    e.cut(ticket);
                } else if latency <= 2.0 * base + 5.0 {
                    e.grow(cfg.max_limit, part);
                } else if ticket.busy {
                    // Queueing at the receiver while we run at the limit: one less per round
                    // trip (as TCP Vegas), so the limit settles where answers start to wait.
                    // Queueing also ends slow start.
                    e.limit = (e.limit - 1.0 / f64::from(e.mine(part))).max(1.0);
                    e.threshold = e.threshold.min(e.limit);
                }
                if let Some(rate) = e.rate_cap {
                    // About +1/s per second of clean sending: probe for more, as AIMD does.
                    e.rate_cap = Some(rate + 1.0 / rate.max(1.0));
                }
                Verdict::Done
            }
            Signal::Throttled(asked) => {
                e.connect_failures = 0;
                e.down_until = None;
                if e.paused_until > ticket.started {
                    // Sent before the pause began: the same refusal, not a new one.
                    return Verdict::Paused {
                        until: e.paused_until.max(now),
                        first: false,
                    };
                }
                e.cut(ticket);
                let wait = match asked {
                    Some(d) => d,
                    None => cfg
                        .default_pause
                        .saturating_mul(1u32 << e.pause_streak.min(16)),
                }
                .clamp(cfg.min_pause, cfg.max_pause.max(cfg.min_pause));
                e.pause_streak = e.pause_streak.saturating_add(1);
                let until = now + wait.as_millis() as i64;
                // What the receiver took in a span is the rate it allows: since the previous
                // refusal (whose pause is part of the span), or since the first success plus
                // the pause it asks for now (it refills its quota during the pause).
                if let Some(start) = e.span_start {
                    let mut secs = (now - start) as f64 / 1000.0;
                    if !e.span_after_pause {
                        secs += wait.as_secs_f64();
                    }
                    if secs > 0.0 && secs <= 120.0 && e.ok_since_throttle > 0 {
                        let measured = f64::from(e.ok_since_throttle) / secs;
                        let rate = match e.rate_cap {
                            Some(r) => measured.min(r * 0.9),
                            None => measured,
                        };
                        e.rate_cap = Some(rate.max(0.1));
                    } else if let Some(r) = e.rate_cap {
                        e.rate_cap = Some((r * 0.5).max(0.1));
                    }
                }
                e.span_start = Some(now);
                e.span_after_pause = true;
                e.ok_since_throttle = 0;
                e.paused_until = until;
                e.rate_next = e.rate_next.max(until);
                Verdict::Paused { until, first: true }
            }
            Signal::Overload => {
                e.cut(ticket);
                Verdict::Done
            }
            Signal::ConnectFailed => {
                e.cut(ticket);
                e.connect_failures = e.connect_failures.saturating_add(1);
                if e.down_until.is_none() && e.connect_failures < cfg.down_after {
                    return Verdict::Done;
                }
                let probe_at = retry_at.unwrap_or(now + cfg.down_retry.as_millis() as i64);
                // Several failures in flight together: the probe waits for the latest.
                let probe_at =
                    e.down_until.map_or(
                        probe_at,
                        |t| {
                            if t > now {
                                t.max(probe_at)
                            } else {
                                probe_at
                            }
                        },
                    );
                e.down_until = Some(probe_at);
                Verdict::Down { probe_at }
            }
            Signal::Neutral => {
                e.connect_failures = 0;
                e.down_until = None;
                Verdict::Done
            }
        }
    }

    /// Endpoints a claim should pass over at `now`: paused, or down (unless a probe is due and
    /// none is out). Endpoints at their limit are not: deliveries claimed for them wait for a
    /// slot in [`Pace::admit`], and the caller bounds how many it claims per endpoint.
    pub fn blocked(&mut self, now: i64) -> Vec<String> {
        self.endpoints.retain(|_, e| {
            e.in_flight > 0
                || e.down_until.is_some()
                || e.paused_until > now
                || now - e.last_used < FORGET_AFTER_MS
        });
        self.endpoints
            .iter()
            .filter(|(_, e)| match e.down_until {
                Some(t) => now < t || e.in_flight > 0,
                None => e.paused_until > now,
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The soonest time (unix ms) after `now` an endpoint [`Pace::blocked`] lists stops being
    /// blocked: its pause ends or its probe falls due. The worker sleeps no longer than this,
    /// since nothing else wakes it when a pause ends.
    pub fn next_unblock(&self, now: i64) -> Option<i64> {
        self.endpoints
            .values()
            .filter_map(|e| match e.down_until {
                Some(t) if e.in_flight == 0 && t > now => Some(t),
                Some(_) => None,
                None => (e.paused_until > now).then_some(e.paused_until),
            })
            .min()
    }

    /// The endpoint's pace, or `None` if this node has not sent to it recently.
    pub fn view(&mut self, endpoint: &str, now: i64) -> Option<View> {
        let e = self.endpoints.get_mut(endpoint)?;
        e.trim(now);
        Some(View {
            state: e.state(now),
            limit: e.slots(),
            node_limit: e.mine(self.part),
            in_flight: e.in_flight,
            rate_cap: e.rate_cap,
            recent_rate: e.recent_rate(now),
        })
    }
}

#[cfg(test)]
#[path = "pace_tests.rs"]
mod tests;
