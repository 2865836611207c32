//! The charts' reads: attempts counted per hour (success / failure) for an endpoint and for an
//! account, and each hour's durations sorted for the percentiles. Attempts are recorded with
//! explicit `now` values in two chosen hours, so the buckets are known exactly.

use std::sync::Arc;

use datahooks_store::charts::{HourCount, HourDurations};
use datahooks_store::webhooks::AttemptResult;
use datahooks_store::Store;

use crate::fanout::message;
use crate::support::*;

const HOUR: i64 = 3_600_000;

fn took(ms: i64, success: bool, retry_at: Option<i64>) -> AttemptResult {
    AttemptResult {
        duration_ms: ms,
        success,
        retry_at,
        ..if success { delivered() } else { failed(None) }
    }
}

pub async fn attempts_are_counted_per_hour(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let a = store
        .create_endpoint(alice.id, endpoint_input("https://a.example/"), "s".into())
        .await
        .unwrap();
    let b = store
        .create_endpoint(alice.id, endpoint_input("https://b.example/"), "s".into())
        .await
        .unwrap();
    store
        .create_endpoint(bob.id, endpoint_input("https://c.example/"), "s".into())
        .await
        .unwrap();
    for i in 0..3 {
        store
            .create_message(alice.id, message(&format!("t{i}"), None, &["c"]))
            .await
            .unwrap();
    }
    store
        .create_message(bob.id, message("t", None, &["c"]))
        .await
        .unwrap();

    // Hour h1 (one minute in), then h2 two hours later: both after every due time.
    let h1 = (later() / HOUR + 1) * HOUR;
    let (t1, h2) = (h1 + 60_000, h1 + 2 * HOUR);
    let t2 = h2 + 60_000;
    let jobs = store.claim_due("n", t1, t1 + 30_000, 100).await.unwrap();
    assert_eq!(jobs.len(), 7, "{jobs:?}");
    let mut a_seen = 0;
    for job in &jobs {
        let result = if job.endpoint_id == a.id {
            a_seen += 1;
            match a_seen {
                1 => took(30, true, None),
                2 => took(10, true, None),
                _ => took(20, false, Some(t2 - 1000)),
            }
        } else {
            took(5, true, None)
        };
        store.complete_delivery("n", job, result, t1).await.unwrap();
    }
    let retry = store.claim_due("n", t2, t2 + 30_000, 100).await.unwrap();
    assert_eq!(retry.len(), 1, "{retry:?}");
    store
        .complete_delivery("n", &retry[0], took(50, true, None), t2)
        .await
        .unwrap();

    let since = h1 - HOUR;
    assert_eq!(
        store.endpoint_hourly(alice.id, &a.id, since).await.unwrap(),
        vec![
            HourCount {
                hour_ms: h1,
                success: 2,
                fail: 1
            },
            HourCount {
                hour_ms: h2,
                success: 1,
                fail: 0
            },
        ]
    );
    assert_eq!(
        store.endpoint_hourly(alice.id, &b.id, since).await.unwrap(),
        vec![HourCount {
            hour_ms: h1,
            success: 3,
            fail: 0
        }]
    );
    assert_eq!(
        store
            .endpoint_durations(alice.id, &a.id, since)
            .await
            .unwrap(),
        vec![
            HourDurations {
                hour_ms: h1,
                durations_ms: vec![10, 20, 30]
            },
            HourDurations {
                hour_ms: h2,
                durations_ms: vec![50]
            },
        ]
    );
    // The account's volume counts both its endpoints and none of bob's.
    assert_eq!(
        store.account_hourly(alice.id, since).await.unwrap(),
        vec![
            HourCount {
                hour_ms: h1,
                success: 5,
                fail: 1
            },
            HourCount {
                hour_ms: h2,
                success: 1,
                fail: 0
            },
        ]
    );
    assert_eq!(
        store.account_hourly(bob.id, since).await.unwrap(),
        vec![HourCount {
            hour_ms: h1,
            success: 1,
            fail: 0
        }]
    );
    // `since` cuts whole attempts out; another account's endpoint id reads nothing.
    assert_eq!(
        store.endpoint_hourly(alice.id, &a.id, h2).await.unwrap(),
        vec![HourCount {
            hour_ms: h2,
            success: 1,
            fail: 0
        }]
    );
    assert!(store
        .endpoint_hourly(bob.id, &a.id, since)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .endpoint_durations(bob.id, &a.id, since)
        .await
        .unwrap()
        .is_empty());
}
