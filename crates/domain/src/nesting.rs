//! How deeply a JSON input may nest.
//!
//! serde_json refuses to read JSON nested deeper than 128 levels. What a client sends is
//! stored, then read back wrapped in larger documents (an event's payload puts a sample's
//! metadata a few levels down, a release file deeper still), so an input that parsed at 125
//! levels could be written and then never read again (the message API showed
//! `"payload": null`). Inputs are therefore limited to [`MAX_DEPTH`] levels, which leaves the
//! wrappers room to spare.

use serde_json::Value;

use crate::{Error, Result};

/// Deepest nesting accepted in a request body: `{}` and `[]` are one level, `{"a": {}}` two.
pub const MAX_DEPTH: usize = 64;

/// How many containers deep `v` nests (a scalar is 0). Iterative, so any depth is measured
/// without recursion.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(m) => {
                deepest = deepest.max(d + 1);
                stack.extend(m.values().map(|i| (i, d + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The error for a body nested too deeply, naming the limit.
pub fn too_deep(depth: Option<usize>) -> Error {
    let what = match depth {
        Some(d) => format!("The JSON body nests {d} levels deep"),
        None => "The JSON body nests more than 128 levels deep".to_owned(),
    };
    Error::invalid(
        "too_deeply_nested",
        format!("{what}; at most {MAX_DEPTH} levels of objects and arrays are accepted."),
    )
}

/// Refuses a value nested deeper than [`MAX_DEPTH`].
pub fn check(v: &Value) -> Result<()> {
    match depth(v) {
        d if d > MAX_DEPTH => Err(too_deep(Some(d))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!([[], {"a": [1]}])), 3);
        assert_eq!(depth(&nested(125)), 125);
    }

    #[test]
    fn the_limit_leaves_room_for_wrappers_that_serde_json_can_read_back() {
        assert!(check(&nested(MAX_DEPTH)).is_ok());
        let err = check(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.code(), "too_deeply_nested");
        assert!(err.to_string().contains("at most 64 levels"), "{err}");
        // Anything accepted, wrapped 60 levels deeper still, reads back.
        let wrapped = (0..60).fold(nested(MAX_DEPTH), |inner, _| json!({ "w": inner }));
        let text = serde_json::to_string(&wrapped).unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }
}
