//! The rules of background jobs (recover, replay-missing, release builds, the sweep that
//! disables failing endpoints), written once for both backends: a job's kinds and states, when
//! a job may be claimed, what a failure moves it to (retry with backoff, or give up), when a
//! lease is renewed, and the Svix task record that recover and replay-missing report through.
//!
//! Pure: the store's SQL mirrors [`claimable`], and the runner (`datahooks_webhooks::jobs`)
//! applies the rest.

use serde_json::{json, Value};

use crate::delivery::UnknownCode;

/// What a job does. Stored as text (`jobs.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Re-send an endpoint's failed messages (Svix `endpoint.recover`).
    Recover,
    /// Send an endpoint the messages never queued for it (Svix `endpoint.replay`).
    ReplayMissing,
    /// Build a requested release's file.
    ReleaseBuild,
    /// Disable endpoints that kept failing for the failure window (periodic).
    FailingSweep,
}

/// A stored kind no variant names: written by a newer version, or corrupt. Never guessed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl std::fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown job kind {:?} in the database", self.0)
    }
}

impl std::error::Error for UnknownKind {}

impl JobKind {
    /// Every kind, for the runner's table of handlers.
    pub const ALL: [JobKind; 4] = [
        JobKind::Recover,
        JobKind::ReplayMissing,
        JobKind::ReleaseBuild,
        JobKind::FailingSweep,
    ];

    /// The stored name; for recover and replay-missing also Svix's `task` name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Recover => "endpoint.recover",
            JobKind::ReplayMissing => "endpoint.replay",
            JobKind::ReleaseBuild => "release.build",
            JobKind::FailingSweep => "endpoints.disable_failing",
        }
    }
}

impl TryFrom<&str> for JobKind {
    type Error = UnknownKind;
    fn try_from(s: &str) -> Result<Self, UnknownKind> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Where a job is. Stored as a number (`jobs.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting until `run_at`.
    Queued = 0,
    /// Leased to a node until `lease_until`.
    Running = 1,
    /// Done; `result` holds what it reported.
    Succeeded = 2,
    /// Gave up; `last_error` says why.
    Failed = 3,
}

impl TryFrom<i64> for JobStatus {
    type Error = UnknownCode;
    fn try_from(n: i64) -> Result<Self, UnknownCode> {
        Ok(match n {
            0 => JobStatus::Queued,
            1 => JobStatus::Running,
            2 => JobStatus::Succeeded,
            3 => JobStatus::Failed,
            value => {
                return Err(UnknownCode {
                    what: "job status",
                    value,
                })
            }
        })
    }
}

impl JobStatus {
    /// The stored number.
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// Attempts a one-off job gets (each claim is one, also one whose node died).
pub const MAX_ATTEMPTS: i64 = 5;

/// Attempts a periodic job gets before its run counts as failed: effectively never, since a
/// periodic job that gave up would never run again. Its count starts over at each run.
pub const PERIODIC_MAX_ATTEMPTS: i64 = 1_000_000;

/// How long a finished (succeeded or failed) job is kept before the sweep deletes it.
pub const KEEP_FINISHED_MS: i64 = 7 * 24 * 3600 * 1000;

/// Longest pause between two attempts of a job.
pub const MAX_RETRY_DELAY_MS: i64 = 5 * 60 * 1000;

/// Whether any node may claim a job now: queued and due, or running on a lease that ran out
/// (its node died or lost touch). The claim statements of both backends say the same.
pub fn claimable(status: JobStatus, run_at: i64, lease_until: Option<i64>, now: i64) -> bool {
    match status {
        JobStatus::Queued => run_at <= now,
        JobStatus::Running => lease_until.is_some_and(|t| t <= now),
        JobStatus::Succeeded | JobStatus::Failed => false,
    }
}

/// What a claim finds: a job to run, or one whose every attempt was used (the last ones by
/// nodes that died holding it: a job that kills its node must not take every node down in turn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// Run it.
    Run,
    /// Mark it failed without running it.
    GiveUp,
}

/// The verdict on a job just claimed, `attempts` counting this claim.
pub fn on_claim(attempts: i64, max_attempts: i64) -> ClaimVerdict {
    if attempts > max_attempts {
        ClaimVerdict::GiveUp
    } else {
        ClaimVerdict::Run
    }
}

/// The pause before the next attempt after `attempts` failed ones: 1 s, doubling, at most
/// [`MAX_RETRY_DELAY_MS`].
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    (1000i64 << doublings).min(MAX_RETRY_DELAY_MS)
}

/// Where a failed attempt moves a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Queued again, due at this time (unix ms).
    RetryAt(i64),
    /// No attempt left: failed for good.
    GiveUp,
}

/// What a failed attempt (the `attempts`-th) at `now` leads to. `permanent` failures (the
/// job's arguments cannot be read, its object is gone) are not retried.
pub fn after_failure(attempts: i64, max_attempts: i64, permanent: bool, now: i64) -> AfterFailure {
    if permanent || attempts >= max_attempts {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryAt(now + retry_delay_ms(attempts))
    }
}

/// How often a running job's lease is renewed: three times per lease, so two renewals may be
/// lost (a slow database) before another node takes the job.
pub fn renew_every_ms(lease_ms: i64) -> i64 {
    (lease_ms / 3).max(1)
}

/// A Svix background task's record (`GET /api/v1/background-task/{id}`): `status` is
/// `running`, `finished` or `failed`; `updatedAt` in API time format.
pub fn task_record(id: &str, kind: JobKind, status: &str, sent: i64, now_ms: i64) -> Value {
    json!({
        "id": id,
        "status": status,
        "task": kind.as_str(),
        "data": {"messagesSent": sent},
        "updatedAt": crate::time::format(
            chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_are_refused() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::try_from(k.as_str()), Ok(k));
        }
        assert_eq!(
            JobKind::try_from("endpoint.explode"),
            Err(UnknownKind("endpoint.explode".into()))
        );
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for s in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
        ] {
            assert_eq!(JobStatus::try_from(s.code()), Ok(s));
        }
        assert!(JobStatus::try_from(4).is_err());
        assert!(JobStatus::try_from(-1).is_err());
    }

    #[test]
    fn queued_jobs_are_claimable_once_due() {
        assert!(!claimable(JobStatus::Queued, 100, None, 99));
        assert!(claimable(JobStatus::Queued, 100, None, 100));
        assert!(claimable(JobStatus::Queued, 100, None, 101));
    }

    #[test]
    fn running_jobs_are_claimable_only_when_the_lease_ran_out() {
        assert!(!claimable(JobStatus::Running, 0, Some(200), 199));
        assert!(claimable(JobStatus::Running, 0, Some(200), 200));
        // A running job always has a lease; one without is not taken on a guess.
        assert!(!claimable(JobStatus::Running, 0, None, 1_000));
    }

    #[test]
    fn finished_jobs_are_never_claimable() {
        for s in [JobStatus::Succeeded, JobStatus::Failed] {
            assert!(!claimable(s, 0, Some(0), i64::MAX));
        }
    }

    #[test]
    fn a_claim_past_the_last_attempt_gives_up() {
        assert_eq!(on_claim(1, 5), ClaimVerdict::Run);
        assert_eq!(on_claim(5, 5), ClaimVerdict::Run);
        assert_eq!(on_claim(6, 5), ClaimVerdict::GiveUp);
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        assert_eq!(retry_delay_ms(0), 1000);
        assert_eq!(retry_delay_ms(1), 1000);
        assert_eq!(retry_delay_ms(2), 2000);
        assert_eq!(retry_delay_ms(4), 8000);
        assert_eq!(retry_delay_ms(30), MAX_RETRY_DELAY_MS);
        assert_eq!(retry_delay_ms(i64::MAX), MAX_RETRY_DELAY_MS);
    }

    #[test]
    fn failures_retry_with_backoff_until_the_attempts_are_used() {
        assert_eq!(after_failure(1, 3, false, 10), AfterFailure::RetryAt(1010));
        assert_eq!(after_failure(2, 3, false, 10), AfterFailure::RetryAt(2010));
        assert_eq!(after_failure(3, 3, false, 10), AfterFailure::GiveUp);
        assert_eq!(after_failure(1, 3, true, 10), AfterFailure::GiveUp);
    }

    #[test]
    fn leases_are_renewed_three_times_per_lease() {
        assert_eq!(renew_every_ms(30_000), 10_000);
        assert_eq!(renew_every_ms(1), 1);
    }

    #[test]
    fn task_records_have_svix_fields() {
        let r = task_record("qtask_1", JobKind::Recover, "finished", 3, 0);
        assert_eq!(r["id"], "qtask_1");
        assert_eq!(r["status"], "finished");
        assert_eq!(r["task"], "endpoint.recover");
        assert_eq!(r["data"]["messagesSent"], 3);
        assert!(r["updatedAt"]
            .as_str()
            .is_some_and(|t| t.starts_with("1970")));
    }
}
