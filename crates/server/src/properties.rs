//! Property tests (proptest) for the query parsers of both APIs: the form decoder every query
//! string and HTML form goes through, the platform API's paging and sample-list query, and the
//! webhook API's `limit` and message-list query. Any text gives a value or a clear 4xx, never a
//! panic; encoded pairs decode back to themselves. 256 cases each in `cargo test`; failures are
//! saved in `proptest-regressions/query_parsers.txt` (committed).

use std::collections::HashMap;

use axum::http::StatusCode;
use proptest::prelude::*;

use crate::extract::{serde_urlencoded_pairs, QueryMap};

/// Percent-encodes every byte that is not unreserved, as a browser or client would.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(pairs: &[(String, String)]) -> QueryMap {
    QueryMap(pairs.iter().cloned().collect::<HashMap<_, _>>())
}

/// A query parameter value: often one the parsers know, else anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "-?[0-9]{1,20}",
        Just("-name".to_owned()),
        Just("priority".to_owned()),
        Just("LABELED,REVIEWED".to_owned()),
        Just("a:b,c:d".to_owned()),
        Just("2026-12-02T05:00:00Z".to_owned()),
        "\\PC{0,24}",
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        Just("page".to_owned()),
        Just("per_page".to_owned()),
        Just("sort".to_owned()),
        Just("filters".to_owned()),
        Just("label_status".to_owned()),
        Just("labelset".to_owned()),
        Just("name__contains".to_owned()),
        Just("include_full_label".to_owned()),
        Just("limit".to_owned()),
        Just("status".to_owned()),
        Just("before".to_owned()),
        Just("after".to_owned()),
        Just("event_types".to_owned()),
        Just("iterator".to_owned()),
        "\\PC{0,8}",
    ];
    proptest::collection::vec((key, value()), 0..8)
}

fn client_error<T>(r: Result<T, crate::error::ApiError>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(e.status.is_client_error(), "{:?}: {}", e.status, e.detail);
        prop_assert!(!e.detail.is_empty());
    }
    Ok(())
}

/// 256 cases per property; failures are kept (and replayed first) in
/// `crates/server/proptest-regressions/query_parsers.txt`, which is committed.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/query_parsers.txt",
            ),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any query text decodes without panic, including broken `%` escapes and non-UTF-8.
    #[test]
    fn form_decoding_never_panics(q in "\\PC{0,64}", raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = serde_urlencoded_pairs(&q);
        let lossy = String::from_utf8_lossy(&raw);
        let _ = serde_urlencoded_pairs(&lossy);
    }

    /// Encoded pairs decode back to exactly themselves, in order.
    #[test]
    fn form_pairs_round_trip(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,12}"), 0..6)) {
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(serde_urlencoded_pairs(&text), pairs);
    }

    /// Platform API: paging and the sample list's query give a query or a clear 4xx.
    #[test]
    fn platform_query_parsers_answer_any_query(ps in params()) {
        let q = query(&ps);
        client_error(crate::api::page(&q))?;
        client_error(crate::api::samples::list_query(&q))?;
        if let Ok(sq) = crate::api::samples::list_query(&q) {
            prop_assert!(sq.page.page >= 1 && (1..=1000).contains(&sq.page.per_page));
        }
    }

    /// Paging is accepted exactly when the numbers are in range.
    #[test]
    fn paging_bounds(page in any::<i64>(), per_page in any::<i64>()) {
        let q = query(&[("page".into(), page.to_string()), ("per_page".into(), per_page.to_string())]);
        let r = crate::api::page(&q);
        prop_assert_eq!(r.is_ok(), page >= 1 && (1..=1000).contains(&per_page));
        if let Err(e) = r {
            let want = if page < 1 { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
            prop_assert_eq!(e.status, want);
        }
    }

    /// Webhook API: `limit` and the message list's query give a filter or a clear 4xx.
    #[test]
    fn webhook_query_parsers_answer_any_query(ps in params(), limit in any::<i64>()) {
        let q = query(&ps);
        client_error(crate::svix::limit(&q))?;
        client_error(crate::svix::messages::filter(&q))?;
        let l = query(&[("limit".into(), limit.to_string())]);
        prop_assert_eq!(crate::svix::limit(&l).is_ok(), (1..=250).contains(&limit));
    }
}
