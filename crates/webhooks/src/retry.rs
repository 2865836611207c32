//! The retry schedule: when to try a failed delivery again, as pure functions.
//!
//! Nothing here reads a clock or an RNG on its own; the caller passes in the jitter draw and
//! "now", so the worker's timing is testable without waiting.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;

/// Fraction of the base delay that jitter may add or remove (±20 %), so that endpoints that
/// failed together do not all get retried in the same instant.
const JITTER_FRACTION: f64 = 0.2;

/// The delays between attempts and the minimum wait after being throttled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    throttle_floor: Duration,
}

/// Why an attempt failed, as far as the schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The receiver answered with a non-2xx status (3xx included: redirects are not followed).
    Status(u16),
    /// No complete answer within the request timeout.
    Timeout,
    /// The TCP/TLS connection could not be established.
    Connect,
    /// Anything else (bad URL, forbidden destination, protocol error…).
    Other,
}

/// Why a schedule string was rejected by [`RetrySchedule::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryScheduleError {
    /// The string has no delays at all.
    #[error("retry schedule is empty")]
    Empty,
    /// One comma-separated item is not a duration like `500ms`, `5s`, `5m`, `2h` or `1d`.
    #[error("invalid delay {0:?} in retry schedule (expected e.g. 500ms, 5s, 5m, 2h, 1d)")]
    InvalidDelay(String),
}

impl RetrySchedule {
    /// A schedule with explicit delays (retry `n` waits `delays[n-1]`) and throttle floor.
    pub fn new(delays: Vec<Duration>, throttle_floor: Duration) -> RetrySchedule {
        RetrySchedule {
            delays,
            throttle_floor,
        }
    }

    /// The delay before each retry, in order.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// The least delay after a 429 or a timeout.
    pub fn throttle_floor(&self) -> Duration {
        self.throttle_floor
    }

    /// Total attempts including the first, immediate one.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// How long to wait before the next attempt, or `None` if retries are exhausted.
    ///
    /// `failed_attempt` is the 1-based number of the attempt that just failed (0 is treated as
    /// 1). `jitter_unit` is a uniform draw in `[-1, 1]` (see [`jitter`]) and scales the base
    /// delay by up to ±20 %. A `retry_after` from the receiver replaces the jittered delay but
    /// is clamped to `[base, 2 × base]`, so a receiver can slow us down but neither speed us
    /// up nor park a message for days. After a 429 or a timeout the delay is at least the
    /// throttle floor.
    pub fn next_delay(
        &self,
        failed_attempt: u32,
        failure: &Failure,
        retry_after: Option<Duration>,
        jitter_unit: f64,
    ) -> Option<Duration> {
        if failed_attempt >= self.max_attempts() {
            return None;
        }
        let index = usize::try_from(failed_attempt.saturating_sub(1)).ok()?;
        let base = *self.delays.get(index)?;

        let delay = match retry_after {
            Some(asked) => asked.clamp(base, base.checked_mul(2).unwrap_or(Duration::MAX)),
            None => jittered(base, jitter_unit),
        };
        let throttled = matches!(failure, Failure::Status(429) | Failure::Timeout);
        Some(if throttled {
            delay.max(self.throttle_floor)
        } else {
            delay
        })
    }
}

/// `base × (1 + 0.2 × unit)`, with `unit` clamped to `[-1, 1]` and non-finite draws treated
/// as 0 so a bad RNG value can never panic the worker.
fn jittered(base: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let factor = 1.0 + JITTER_FRACTION * unit;
    Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

impl Default for RetrySchedule {
    /// Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts, ~27.6 h),
    /// with a 60 s floor after throttling.
    fn default() -> RetrySchedule {
        let secs = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
        RetrySchedule {
            delays: secs.into_iter().map(Duration::from_secs).collect(),
            throttle_floor: Duration::from_secs(60),
        }
    }
}

impl FromStr for RetrySchedule {
    type Err = RetryScheduleError;

    /// Parses a comma-separated list such as `1s,2s,4s` or `500ms,5m,2h,1d` (a bare number
    /// means seconds). Custom schedules have no throttle floor: they are mostly used to make
    /// tests and demos fast, and a hidden 60 s minimum would defeat that.
    fn from_str(s: &str) -> Result<RetrySchedule, RetryScheduleError> {
        if s.trim().is_empty() {
            return Err(RetryScheduleError::Empty);
        }
        let delays = s
            .split(',')
            .map(|item| {
                parse_delay(item.trim())
                    .ok_or_else(|| RetryScheduleError::InvalidDelay(item.trim().to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetrySchedule::new(delays, Duration::ZERO))
    }
}

/// One `<integer><unit>` item; `None` on anything else, including overflow.
fn parse_delay(item: &str) -> Option<Duration> {
    let split = item
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(item.len());
    let (digits, unit) = item.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let secs_per_unit = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(secs_per_unit).map(Duration::from_secs)
}

impl fmt::Display for RetrySchedule {
    /// The delays in the syntax [`RetrySchedule::from_str`] accepts, largest exact unit first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, delay) in self.delays.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let ms = delay.as_millis();
            let secs = delay.as_secs();
            if delay.is_zero() {
                f.write_str("0s")?;
            } else if delay.subsec_millis() != 0 || secs == 0 {
                write!(f, "{ms}ms")?;
            } else if secs % 86_400 == 0 {
                write!(f, "{}d", secs / 86_400)?;
            } else if secs % 3_600 == 0 {
                write!(f, "{}h", secs / 3_600)?;
            } else if secs % 60 == 0 {
                write!(f, "{}m", secs / 60)?;
            } else {
                write!(f, "{secs}s")?;
            }
        }
        Ok(())
    }
}

/// A uniform draw in `[-1, 1]` to feed [`RetrySchedule::next_delay`].
pub fn jitter<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.gen_range(-1.0..=1.0)
}

/// Parses a `Retry-After` header value: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, plus the obsolete RFC 850 and asctime forms that
/// RFC 9110 says recipients must accept). A date in the past means "now" (`Some(0)`).
/// Returns `None` for anything unparseable, which callers treat as "no hint".
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings overflow u64; saturate rather than ignore them, the
        // schedule clamps the result anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    // RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn default_is_the_svix_schedule() {
        let s = RetrySchedule::default();
        assert_eq!(
            s.delays(),
            &[
                secs(5),
                secs(300),
                secs(1800),
                secs(7200),
                secs(18000),
                secs(36000),
                secs(36000)
            ]
        );
        assert_eq!(s.throttle_floor(), secs(60));
        assert_eq!(s.max_attempts(), 8);
        let total: Duration = s.delays().iter().sum();
        assert_eq!(total.as_secs(), 99_305); // ≈ 27.6 h
    }

    #[test]
    fn without_jitter_each_retry_uses_its_base_delay() {
        let s = RetrySchedule::default();
        let f = Failure::Status(500);
        for (i, base) in s.delays().iter().enumerate() {
            let attempt = u32::try_from(i).unwrap() + 1;
            assert_eq!(s.next_delay(attempt, &f, None, 0.0), Some(*base));
        }
    }

    #[test]
    fn stops_after_the_last_attempt() {
        let s = RetrySchedule::default();
        assert!(s.next_delay(7, &Failure::Connect, None, 0.0).is_some());
        assert_eq!(s.next_delay(8, &Failure::Connect, None, 0.0), None);
        assert_eq!(s.next_delay(9, &Failure::Connect, None, 0.0), None);
        assert_eq!(s.next_delay(u32::MAX, &Failure::Connect, None, 0.0), None);
    }

    #[test]
    fn attempt_zero_is_treated_as_the_first() {
        let s = RetrySchedule::default();
        assert_eq!(s.next_delay(0, &Failure::Other, None, 0.0), Some(secs(5)));
    }

    #[test]
    fn jitter_spans_plus_minus_twenty_percent() {
        let s = RetrySchedule::default();
        let f = Failure::Status(503);
        assert_eq!(s.next_delay(2, &f, None, -1.0), Some(secs(240)));
        assert_eq!(s.next_delay(2, &f, None, 1.0), Some(secs(360)));
        assert_eq!(s.next_delay(2, &f, None, 0.5), Some(secs(330)));
        // Out-of-range and non-finite draws are clamped / ignored.
        assert_eq!(s.next_delay(2, &f, None, 7.0), Some(secs(360)));
        assert_eq!(s.next_delay(2, &f, None, -7.0), Some(secs(240)));
        assert_eq!(s.next_delay(2, &f, None, f64::NAN), Some(secs(300)));
        assert_eq!(s.next_delay(2, &f, None, f64::INFINITY), Some(secs(300)));
    }

    #[test]
    fn throttled_failures_wait_at_least_the_floor() {
        let s = RetrySchedule::default();
        // The first retry is 5 s, but 429 and timeouts wait 60 s.
        assert_eq!(
            s.next_delay(1, &Failure::Status(429), None, 0.0),
            Some(secs(60))
        );
        assert_eq!(
            s.next_delay(1, &Failure::Timeout, None, 0.0),
            Some(secs(60))
        );
        assert_eq!(
            s.next_delay(1, &Failure::Status(500), None, 0.0),
            Some(secs(5))
        );
        assert_eq!(s.next_delay(1, &Failure::Connect, None, 0.0), Some(secs(5)));
        // Above the floor the schedule wins.
        assert_eq!(
            s.next_delay(2, &Failure::Timeout, None, 0.0),
            Some(secs(300))
        );
    }

    #[test]
    fn retry_after_is_clamped_to_base_and_twice_base() {
        let s = RetrySchedule::default();
        let f = Failure::Status(503);
        // Base for attempt 2 is 300 s; jitter is ignored when the receiver gave a hint.
        assert_eq!(s.next_delay(2, &f, Some(secs(400)), 1.0), Some(secs(400)));
        assert_eq!(s.next_delay(2, &f, Some(secs(1)), 1.0), Some(secs(300)));
        assert_eq!(
            s.next_delay(2, &f, Some(secs(86_400)), -1.0),
            Some(secs(600))
        );
        assert_eq!(
            s.next_delay(2, &f, Some(Duration::MAX), 0.0),
            Some(secs(600))
        );
    }

    #[test]
    fn retry_after_on_429_still_respects_the_floor() {
        let s = RetrySchedule::default();
        // Clamp gives [5 s, 10 s]; the 429 floor lifts it to 60 s.
        assert_eq!(
            s.next_delay(1, &Failure::Status(429), Some(secs(8)), 0.0),
            Some(secs(60))
        );
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        let s = RetrySchedule::new(vec![Duration::MAX], Duration::ZERO);
        let f = Failure::Other;
        assert_eq!(s.next_delay(1, &f, None, 1.0), Some(Duration::MAX));
        assert_eq!(
            s.next_delay(1, &f, Some(Duration::MAX), 0.0),
            Some(Duration::MAX)
        );
    }

    #[test]
    fn parses_custom_schedules() {
        let s: RetrySchedule = "1s,2s,4s".parse().unwrap();
        assert_eq!(s.delays(), &[secs(1), secs(2), secs(4)]);
        assert_eq!(s.throttle_floor(), Duration::ZERO);
        assert_eq!(s.max_attempts(), 4);

        let s: RetrySchedule = " 500ms, 5m ,2h,1d,7 ".parse().unwrap();
        assert_eq!(
            s.delays(),
            &[
                Duration::from_millis(500),
                secs(300),
                secs(7200),
                secs(86_400),
                secs(7)
            ]
        );
        // With no floor, a throttled retry uses the custom delay as is.
        assert_eq!(
            s.next_delay(1, &Failure::Status(429), None, 0.0),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn rejects_bad_schedules() {
        assert_eq!("".parse::<RetrySchedule>(), Err(RetryScheduleError::Empty));
        assert_eq!(
            "   ".parse::<RetrySchedule>(),
            Err(RetryScheduleError::Empty)
        );
        for bad in [
            "1s,,2s",
            "1s,",
            "fast",
            "5x",
            "-5s",
            "1.5s",
            "s",
            "5 s",
            "99999999999999999999d",
        ] {
            assert!(
                matches!(
                    bad.parse::<RetrySchedule>(),
                    Err(RetryScheduleError::InvalidDelay(_))
                ),
                "{bad:?} should be rejected"
            );
        }
        let err = "1s,nope".parse::<RetrySchedule>().unwrap_err();
        assert!(err.to_string().contains("\"nope\""));
    }

    #[test]
    fn display_round_trips() {
        let d = RetrySchedule::default();
        assert_eq!(d.to_string(), "5s,5m,30m,2h,5h,10h,10h");
        let s: RetrySchedule = "500ms,90s,1d,0s".parse().unwrap();
        assert_eq!(s.to_string(), "500ms,90s,1d,0s");
        assert_eq!(s.to_string().parse::<RetrySchedule>().unwrap(), s);
    }

    #[test]
    fn jitter_draws_stay_in_range() {
        let mut rng = StdRng::seed_from_u64(42);
        let draws: Vec<f64> = (0..1000).map(|_| jitter(&mut rng)).collect();
        assert!(draws.iter().all(|d| (-1.0..=1.0).contains(d)));
        assert!(draws.iter().any(|d| *d < -0.5));
        assert!(draws.iter().any(|d| *d > 0.5));
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 0, 0).unwrap()
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("120", now()), Some(secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(secs(0)));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_dates() {
        let expected = Some(secs(28 * 60));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            expected
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now()),
            expected
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:00 2015", now()),
            expected
        );
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        assert_eq!(
            parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now()),
            Some(secs(0))
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        for bad in [
            "",
            "soon",
            "-5",
            "1.5",
            "+5",
            "Wed, 32 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
    }
}
