//! Property tests (proptest) for the JSON input parsers: whatever JSON a client sends, the
//! parsers answer with a value or a clear `Invalid` error, never a panic; what they accept
//! reads back the same; and the nesting limit is exact. A bounded run (256 cases each) is part
//! of `cargo test`; failures are saved in `proptest-regressions/properties.txt` (committed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use datahooks_domain::inputs::{
    comment_text, role, IssueInput, LabelInput, NewSample, SamplePatch,
};
use datahooks_domain::{nesting, Error};

/// Any JSON value, biased towards the field names the parsers read so that they get past the
/// first check often.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("name".to_owned()),
        Just("attributes".to_owned()),
        Just("metadata".to_owned()),
        Just("priority".to_owned()),
        Just("readme".to_owned()),
        Just("assigned_labeler".to_owned()),
        Just("assigned_reviewer".to_owned()),
        Just("label_status".to_owned()),
        Just("score".to_owned()),
        Just("description".to_owned()),
        Just("status".to_owned()),
        Just("text".to_owned()),
        Just("role".to_owned()),
        Just("annotations".to_owned()),
        "\\PC{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("LABELED".to_owned()),
            Just("REVIEWED".to_owned()),
            Just("admin".to_owned()),
            Just("labeler".to_owned()),
            Just("OPEN".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn clear<T>(r: Result<T, Error>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(matches!(e, Error::Invalid { .. }), "{e:?}");
        prop_assert!(!e.to_string().is_empty());
    }
    Ok(())
}

fn reference_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(reference_depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(reference_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// 256 cases per property; failures are kept (and replayed first) in
/// `crates/domain/proptest-regressions/properties.txt`, which is committed.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/properties.txt",
            ),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every parser answers any JSON with a value or a clear error.
    #[test]
    fn parsers_never_panic(v in json_value()) {
        clear(NewSample::parse(v.clone()))?;
        clear(NewSample::parse_many(v.clone(), 10))?;
        clear(SamplePatch::parse(v.clone()))?;
        clear(LabelInput::parse(v.clone()))?;
        clear(IssueInput::parse_new(v.clone()))?;
        clear(IssueInput::parse_patch(v.clone()))?;
        clear(comment_text(v.clone()))?;
        if let Value::Object(m) = &v {
            clear(role(m, None))?;
        }
    }

    /// A sample that parses keeps what it was given, and parses the same again from the
    /// JSON it would be written back as.
    #[test]
    fn samples_round_trip(
        name in "[a-zA-Z0-9_.-]{1,20}",
        meta in proptest::collection::btree_map("[a-z]{1,6}", json_value(), 0..4),
        priority in -1e9f64..1e9,
        readme in "\\PC{0,20}",
    ) {
        let metadata: Map<String, Value> = meta.into_iter().collect();
        let body = json!({"name": name, "metadata": metadata, "priority": priority, "readme": readme});
        let s = NewSample::parse(body).unwrap();
        prop_assert_eq!(&s.name, &name);
        prop_assert_eq!(&s.metadata, &metadata);
        prop_assert_eq!(s.priority, priority);
        let again = json!({"name": s.name, "metadata": s.metadata, "priority": s.priority, "readme": s.readme});
        prop_assert_eq!(NewSample::parse(again).unwrap(), s);
    }

    /// The depth measure agrees with a plain recursive one, and the limit is exact.
    #[test]
    fn nesting_depth_is_exact(v in json_value(), extra in 0usize..130) {
        prop_assert_eq!(nesting::depth(&v), reference_depth(&v));
        let deep = (0..extra).fold(v, |inner, _| json!([inner]));
        let d = nesting::depth(&deep);
        prop_assert_eq!(nesting::check(&deep).is_ok(), d <= nesting::MAX_DEPTH);
    }
}
