//! Timestamps as the API writes them: RFC 3339, UTC, microseconds, `+00:00`.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a timestamp like `2021-08-09T14:40:19.987691+00:00`.
pub fn format(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Parses a timestamp written by [`format`] (or any RFC 3339 string).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_with_micros_and_offset() {
        let t = Utc.with_ymd_and_hms(2021, 8, 9, 14, 40, 19).unwrap()
            + chrono::Duration::microseconds(987_691);
        assert_eq!(format(t), "2021-08-09T14:40:19.987691+00:00");
        assert_eq!(parse(&format(t)), Some(t));
    }
}
