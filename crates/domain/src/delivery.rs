//! The rules of webhook delivery, written once for every backend: the states of a delivery
//! and what one attempt moves it to, the failure clock that disables an endpoint that keeps
//! failing, an endpoint's enabled/disabled transitions, and the limit on old secrets kept at
//! rotation. Pure: the store only writes what these functions decide.

use std::fmt;

/// A delivery's (and an attempt's) status, with Svix's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryStatus {
    /// Delivered.
    Success = 0,
    /// Waiting for its next attempt.
    Pending = 1,
    /// Every attempt failed.
    Fail = 2,
    /// Leased by a worker.
    Sending = 3,
    /// Will not be sent: its payload was expunged, or its account's webhooks were disabled,
    /// before it went out (see [`cancels`]); `recover` queues it again.
    Canceled = 4,
}

/// A stored number that names no status or trigger: the data is corrupt, or was written by a
/// newer version. Never guessed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownCode {
    /// What the number was read as.
    pub what: &'static str,
    /// The number.
    pub value: i64,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {} in the database", self.what, self.value)
    }
}

impl std::error::Error for UnknownCode {}

impl TryFrom<i64> for DeliveryStatus {
    type Error = UnknownCode;
    fn try_from(n: i64) -> Result<Self, UnknownCode> {
        Ok(match n {
            0 => DeliveryStatus::Success,
            1 => DeliveryStatus::Pending,
            2 => DeliveryStatus::Fail,
            3 => DeliveryStatus::Sending,
            4 => DeliveryStatus::Canceled,
            value => {
                return Err(UnknownCode {
                    what: "delivery status",
                    value,
                })
            }
        })
    }
}

impl DeliveryStatus {
    /// Svix's `statusText`.
    pub fn text(self) -> &'static str {
        match self {
            DeliveryStatus::Success => "success",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Fail => "fail",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Canceled => "canceled",
        }
    }

    /// Settled: no attempt will be made any more (a resend or recover queues a new row).
    pub fn is_final(self) -> bool {
        !matches!(self, DeliveryStatus::Pending | DeliveryStatus::Sending)
    }

    /// The stored number.
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// Whether a delivery in `status` is canceled when its message's payload is expunged (there is
/// nothing left to send; Svix no longer sends it) or when its account's webhooks are disabled
/// (after Disable nothing more is sent, and enabling again does not bring it back: `recover`
/// does). A pending or leased one becomes `Canceled`; a settled one keeps its outcome. A worker
/// that already holds a leased one in memory loses its lease, so its result is not recorded.
pub fn cancels(status: DeliveryStatus) -> bool {
    !status.is_final()
}

/// The statuses [`cancels`] moves to `Canceled`, for the store's SQL.
pub const CANCELABLE: [DeliveryStatus; 2] = [DeliveryStatus::Pending, DeliveryStatus::Sending];

/// Whether `recover` queues a message again at an endpoint where its latest outcome is
/// `status` (and it never succeeded there): failed and canceled ones are.
pub fn recoverable(status: DeliveryStatus) -> bool {
    matches!(status, DeliveryStatus::Fail | DeliveryStatus::Canceled)
}

/// Svix's bounds for a message's `payloadRetentionPeriod`, in days.
pub const PAYLOAD_RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=90;

/// When a message created at `created_ms` loses its payload, for a `payloadRetentionPeriod` of
/// `days` (`None` when the value is outside Svix's 1–90 days).
pub fn payload_expiry(created_ms: i64, days: i64) -> Option<i64> {
    PAYLOAD_RETENTION_DAYS
        .contains(&days)
        .then(|| created_ms + days * 86_400_000)
}

/// Why a delivery was queued, with Svix's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Fan-out of a message: retried on the schedule.
    Scheduled = 0,
    /// A manual resend, recovery or replay: runs once.
    Manual = 1,
}

impl TryFrom<i64> for Trigger {
    type Error = UnknownCode;
    fn try_from(n: i64) -> Result<Self, UnknownCode> {
        match n {
            0 => Ok(Trigger::Scheduled),
            1 => Ok(Trigger::Manual),
            value => Err(UnknownCode {
                what: "trigger type",
                value,
            }),
        }
    }
}

impl Trigger {
    /// The stored number.
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// What an attempt taught about the endpoint, as the worker saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx.
    Success,
    /// Failed; `retry_at` is when the schedule allows another attempt (`None`: exhausted).
    Failure {
        /// Next attempt time (unix ms), if the schedule has one left.
        retry_at: Option<i64>,
    },
    /// 410 Gone: the receiver asked to be forgotten.
    Gone,
}

/// Where a delivery goes after an attempt at `now` (unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextState {
    /// Its status.
    pub status: DeliveryStatus,
    /// When it is next due (for `Pending`), else when it was settled.
    pub next_attempt_at: i64,
}

/// The delivery state machine: success settles it; a scheduled delivery that failed with a
/// retry left waits for it; a manual attempt, an exhausted schedule or a 410 settle it as
/// failed.
pub fn next_state(trigger: Trigger, outcome: AttemptOutcome, now: i64) -> NextState {
    match (outcome, trigger) {
        (AttemptOutcome::Success, _) => NextState {
            status: DeliveryStatus::Success,
            next_attempt_at: now,
        },
        (AttemptOutcome::Failure { retry_at: Some(at) }, Trigger::Scheduled) => NextState {
            status: DeliveryStatus::Pending,
            next_attempt_at: at,
        },
        _ => NextState {
            status: DeliveryStatus::Fail,
            next_attempt_at: now,
        },
    }
}

/// What a batch of attempts does to one endpoint's failure clock and enabled state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointChange {
    /// A success in the batch stopped the clock: `first_failure_at` is set to `start`
    /// (`None` or a failure after the last success), whatever it was.
    pub reset: bool,
    /// The first failure not followed by a success: the clock starts then if it is not
    /// already running (or was reset by this batch).
    pub start: Option<i64>,
    /// Disable the endpoint, with this reason (`gone` after a 410).
    pub disable: Option<String>,
}

impl EndpointChange {
    /// The endpoint's `first_failure_at` after the change, from its value before.
    pub fn clock(&self, before: Option<i64>) -> Option<i64> {
        if self.reset {
            self.start
        } else {
            before.or(self.start)
        }
    }

    /// Whether the change changes anything.
    pub fn is_noop(&self) -> bool {
        !self.reset && self.start.is_none() && self.disable.is_none()
    }
}

/// The failure clock, folded over one endpoint's attempts in the order they were made
/// (`(outcome, at)`): a success stops the clock; the first failure after it starts it; a 410
/// disables the endpoint. An endpoint whose clock has run longer than the failure window with
/// no success is disabled by [`failing_since`]'s sweep.
pub fn fold_endpoint(attempts: &[(AttemptOutcome, i64)]) -> EndpointChange {
    let mut change = EndpointChange::default();
    for (outcome, at) in attempts {
        match outcome {
            AttemptOutcome::Success => {
                change.reset = true;
                change.start = None;
            }
            AttemptOutcome::Failure { .. } | AttemptOutcome::Gone => {
                if change.start.is_none() {
                    change.start = Some(*at);
                }
                if *outcome == AttemptOutcome::Gone {
                    change.disable = Some("gone".to_owned());
                }
            }
        }
    }
    change
}

/// The sweep's cutoff: endpoints failing since before it (with no success since) are
/// disabled as `failing`.
pub fn failing_since(now: i64, window_ms: i64) -> i64 {
    now - window_ms
}

/// The failure after which a delivery is reported as failing (Svix sends
/// `message.attempt.failing` on the fourth failure).
pub const FAILING_AFTER: i64 = 4;

/// What one recorded attempt tells the account's operational endpoints, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptSignal {
    /// The delivery settled as failed: `message.attempt.exhausted`.
    Exhausted,
    /// The [`FAILING_AFTER`]th failure of a scheduled delivery with a retry left:
    /// `message.attempt.failing`.
    Failing,
    /// A scheduled delivery that had been reported failing succeeded:
    /// `message.attempt.recovered`.
    Recovered,
}

/// The signal of an attempt of a delivery that had `attempts_before` attempts, decided with
/// [`next_state`] so the two never disagree. Only attempts whose worker still held the lease
/// count (the caller checks that, as for the failure clock).
pub fn attempt_signal(
    trigger: Trigger,
    outcome: AttemptOutcome,
    attempts_before: i64,
) -> Option<AttemptSignal> {
    let settled = next_state(trigger, outcome, 0).status;
    match outcome {
        AttemptOutcome::Success => (trigger == Trigger::Scheduled
            && attempts_before >= FAILING_AFTER)
            .then_some(AttemptSignal::Recovered),
        _ if settled == DeliveryStatus::Fail => Some(AttemptSignal::Exhausted),
        _ => (attempts_before + 1 == FAILING_AFTER).then_some(AttemptSignal::Failing),
    }
}

/// Whether a batch's change disables an endpoint that was enabled (so `endpoint.disabled` is
/// sent once, not again for an endpoint already disabled).
pub fn disables(before: &EndpointState, change: &EndpointChange) -> bool {
    !before.disabled && change.disable.is_some()
}

/// An endpoint's enabled state and failure clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointState {
    /// Disabled.
    pub disabled: bool,
    /// Why (`manual`, `gone`, `failing`).
    pub reason: Option<String>,
    /// Start of the current run of failures (unix ms).
    pub first_failure_at: Option<i64>,
}

/// A user sets an endpoint's `disabled` flag: disabling by hand records `manual` (an endpoint
/// already disabled keeps its reason); enabling clears the reason, and re-enabling a disabled
/// endpoint also clears the failure clock, so it is not disabled again at the next sweep.
pub fn set_disabled(cur: &EndpointState, disabled: bool) -> EndpointState {
    match (disabled, cur.disabled) {
        (true, true) => cur.clone(),
        (true, false) => EndpointState {
            disabled: true,
            reason: Some("manual".to_owned()),
            first_failure_at: cur.first_failure_at,
        },
        (false, was_disabled) => EndpointState {
            disabled: false,
            reason: None,
            first_failure_at: if was_disabled {
                None
            } else {
                cur.first_failure_at
            },
        },
    }
}

/// Most previous secrets that may be valid at once.
pub const MAX_OLD_SECRETS: usize = 10;

/// Rotating a secret: the previous secrets still valid at `now`, plus the current one if it
/// stays valid until `old_expires_at` (> `now`). `None` when [`MAX_OLD_SECRETS`] are already
/// valid.
pub fn rotate_secrets<S: Clone>(
    current: S,
    old: &[(S, i64)],
    now: i64,
    old_expires_at: i64,
) -> Option<Vec<(S, i64)>> {
    let mut kept: Vec<(S, i64)> = old.iter().filter(|(_, exp)| *exp > now).cloned().collect();
    if kept.len() >= MAX_OLD_SECRETS {
        return None;
    }
    if old_expires_at > now {
        kept.push((current, old_expires_at));
    }
    Some(kept)
}

/// The secrets a delivery is signed with at `now`: the current one first, then the previous
/// ones not yet expired.
pub fn signing_secrets<S: Clone>(current: S, old: &[(S, i64)], now: i64) -> Vec<S> {
    let mut out = vec![current];
    out.extend(
        old.iter()
            .filter(|(_, exp)| *exp > now)
            .map(|(s, _)| s.clone()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAIL: AttemptOutcome = AttemptOutcome::Failure { retry_at: None };

    fn retry(at: i64) -> AttemptOutcome {
        AttemptOutcome::Failure { retry_at: Some(at) }
    }

    #[test]
    fn statuses_and_triggers_round_trip_and_reject_unknown_numbers() {
        for s in [
            DeliveryStatus::Success,
            DeliveryStatus::Pending,
            DeliveryStatus::Fail,
            DeliveryStatus::Sending,
            DeliveryStatus::Canceled,
        ] {
            assert_eq!(DeliveryStatus::try_from(s.code()), Ok(s));
        }
        assert_eq!(
            DeliveryStatus::try_from(7),
            Err(UnknownCode {
                what: "delivery status",
                value: 7
            })
        );
        assert_eq!(Trigger::try_from(1), Ok(Trigger::Manual));
        assert!(Trigger::try_from(-1).is_err());
    }

    #[test]
    fn the_outcome_state_machine() {
        let s = |t, o| next_state(t, o, 100);
        assert_eq!(
            s(Trigger::Scheduled, AttemptOutcome::Success).status,
            DeliveryStatus::Success
        );
        assert_eq!(
            s(Trigger::Scheduled, retry(500)),
            NextState {
                status: DeliveryStatus::Pending,
                next_attempt_at: 500
            }
        );
        // Exhausted, manual (runs once) and gone all settle as failed.
        for (t, o) in [
            (Trigger::Scheduled, FAIL),
            (Trigger::Manual, retry(500)),
            (Trigger::Scheduled, AttemptOutcome::Gone),
        ] {
            assert_eq!(
                s(t, o),
                NextState {
                    status: DeliveryStatus::Fail,
                    next_attempt_at: 100
                }
            );
        }
    }

    #[test]
    fn the_failure_clock_follows_the_last_success() {
        assert!(fold_endpoint(&[]).is_noop());
        let c = fold_endpoint(&[(FAIL, 10), (retry(99), 20)]);
        assert_eq!((c.reset, c.start), (false, Some(10)));
        assert_eq!(c.clock(Some(5)), Some(5), "a running clock keeps its start");
        assert_eq!(c.clock(None), Some(10));
        let c = fold_endpoint(&[(FAIL, 10), (AttemptOutcome::Success, 20)]);
        assert_eq!(c.clock(Some(5)), None);
        let c = fold_endpoint(&[(FAIL, 10), (AttemptOutcome::Success, 20), (FAIL, 30)]);
        assert_eq!(c.clock(Some(5)), Some(30), "restarts after the success");
        let c = fold_endpoint(&[(AttemptOutcome::Gone, 10)]);
        assert_eq!(c.disable.as_deref(), Some("gone"));
        assert_eq!(failing_since(1000, 300), 700);
    }

    #[test]
    fn attempt_signals_follow_the_state_machine() {
        use AttemptSignal::*;
        let sig = attempt_signal;
        assert_eq!(sig(Trigger::Scheduled, retry(9), 0), None);
        assert_eq!(sig(Trigger::Scheduled, retry(9), 3), Some(Failing));
        assert_eq!(sig(Trigger::Scheduled, retry(9), 4), None);
        assert_eq!(sig(Trigger::Scheduled, FAIL, 7), Some(Exhausted));
        assert_eq!(
            sig(Trigger::Scheduled, AttemptOutcome::Gone, 0),
            Some(Exhausted)
        );
        assert_eq!(
            sig(Trigger::Manual, retry(9), 0),
            Some(Exhausted),
            "runs once"
        );
        assert_eq!(sig(Trigger::Scheduled, AttemptOutcome::Success, 3), None);
        assert_eq!(
            sig(Trigger::Scheduled, AttemptOutcome::Success, 4),
            Some(Recovered)
        );
        assert_eq!(sig(Trigger::Manual, AttemptOutcome::Success, 4), None);
        let on = EndpointState {
            disabled: false,
            reason: None,
            first_failure_at: None,
        };
        let gone = fold_endpoint(&[(AttemptOutcome::Gone, 1)]);
        assert!(disables(&on, &gone));
        assert!(!disables(&set_disabled(&on, true), &gone), "already off");
        assert!(!disables(&on, &fold_endpoint(&[(FAIL, 1)])));
    }

    #[test]
    fn enabling_and_disabling() {
        let on = EndpointState {
            disabled: false,
            reason: None,
            first_failure_at: Some(7),
        };
        let off = set_disabled(&on, true);
        assert_eq!(off.reason.as_deref(), Some("manual"));
        assert_eq!(off.first_failure_at, Some(7));
        let failing = EndpointState {
            reason: Some("failing".into()),
            ..off.clone()
        };
        assert_eq!(set_disabled(&failing, true), failing, "keeps its reason");
        let back = set_disabled(&failing, false);
        assert_eq!(
            (back.disabled, back.reason, back.first_failure_at),
            (false, None, None)
        );
        assert_eq!(set_disabled(&on, false), on, "enabled stays as it was");
    }

    #[test]
    fn rotation_keeps_at_most_ten_live_old_secrets() {
        let old: Vec<(u32, i64)> = (0..10).map(|i| (i, 50 + i as i64)).collect();
        assert_eq!(rotate_secrets(99, &old, 10, 100), None);
        // At 55, five have expired: room again.
        let kept = rotate_secrets(99, &old, 55, 100).unwrap();
        assert_eq!(kept.len(), 5);
        assert_eq!(kept.last(), Some(&(99, 100)));
        // Expiring the current secret at once does not keep it.
        assert_eq!(rotate_secrets(99, &[], 10, 10).unwrap(), vec![]);
        assert_eq!(signing_secrets(1, &[(2, 5), (3, 50)], 10), vec![1, 3]);
    }

    #[test]
    fn expunge_cancels_only_what_has_not_gone_out() {
        use DeliveryStatus as S;
        let all = [S::Success, S::Pending, S::Fail, S::Sending, S::Canceled];
        let cancelled: Vec<_> = all.into_iter().filter(|s| cancels(*s)).collect();
        assert_eq!(cancelled, CANCELABLE.to_vec());
        assert_eq!(S::Canceled.text(), "canceled");
        assert!(S::Canceled.is_final() && !S::Pending.is_final());
        let again: Vec<_> = all.into_iter().filter(|s| recoverable(*s)).collect();
        assert_eq!(again, [S::Fail, S::Canceled]);
    }

    #[test]
    fn payload_expiry_is_within_svix_bounds() {
        assert_eq!(payload_expiry(1_000, 1), Some(1_000 + 86_400_000));
        assert_eq!(payload_expiry(0, 90), Some(90 * 86_400_000));
        assert_eq!(payload_expiry(0, 0), None);
        assert_eq!(payload_expiry(0, 91), None);
        assert_eq!(payload_expiry(0, -1), None);
    }
}
