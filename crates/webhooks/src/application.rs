//! Rules for an application's settings (`name`, `throttleRate`, `metadata`) as the management
//! API's camelCase bodies give them. The uid is the account name and is never changed here.

use serde_json::{Map, Value};

use datahooks_domain::Error;
use datahooks_store::AppSettings;

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid("validation", msg)
}

/// Applies a body to `current`. With `replace` (PUT, POST) fields left out go back to their
/// defaults (`default_name`, no throttle, no metadata); without (PATCH) they are kept. An explicit
/// `null` clears `throttleRate` and `metadata` in both modes.
pub fn apply(
    m: &Map<String, Value>,
    current: &AppSettings,
    default_name: &str,
    replace: bool,
) -> Result<AppSettings, Error> {
    let mut s = if replace {
        AppSettings::default_for(default_name)
    } else {
        current.clone()
    };
    match m.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(n)) if !n.trim().is_empty() && n.len() <= 256 => s.name = n.clone(),
        Some(_) => {
            return Err(invalid(
                "'name' must be a non-empty string (at most 256 bytes).",
            ))
        }
    }
    match m.get("throttleRate").or_else(|| m.get("rateLimit")) {
        None => {}
        Some(Value::Null) => s.throttle_rate = None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| (1..=65_535).contains(&v)) => {
            s.throttle_rate = n.as_i64()
        }
        Some(_) => {
            return Err(invalid(
                "'throttleRate' must be a whole number of messages per second, 1 to 65535.",
            ))
        }
    }
    match m.get("metadata") {
        None => {}
        Some(Value::Null) => s.metadata = Map::new(),
        // Svix's metadata is string to string; the client's model refuses anything else.
        Some(Value::Object(o)) if o.values().all(Value::is_string) => s.metadata = o.clone(),
        Some(_) => {
            return Err(invalid(
                "'metadata' must be an object whose values are strings.",
            ))
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn put_resets_and_patch_keeps() {
        let cur = AppSettings {
            name: "Acme".into(),
            throttle_rate: Some(5),
            metadata: obj(json!({"a": "1"})),
            updated_at: None,
        };
        let put = apply(&obj(json!({"name": "New"})), &cur, "acme", true).unwrap();
        assert_eq!(put.throttle_rate, None);
        assert!(put.metadata.is_empty());
        let patch = apply(&obj(json!({"name": "New"})), &cur, "acme", false).unwrap();
        assert_eq!(patch.throttle_rate, Some(5));
        assert_eq!(patch.metadata, cur.metadata);
        assert_eq!(patch.name, "New");
        let cleared = apply(&obj(json!({"throttleRate": null})), &cur, "acme", false).unwrap();
        assert_eq!(cleared.throttle_rate, None);
    }

    #[test]
    fn bad_values_are_refused() {
        let cur = AppSettings::default_for("acme");
        for body in [
            json!({"throttleRate": 0}),
            json!({"throttleRate": "5"}),
            json!({"metadata": {"a": 1}}),
            json!({"metadata": []}),
            json!({"name": ""}),
        ] {
            assert!(
                apply(&obj(body.clone()), &cur, "acme", false).is_err(),
                "{body}"
            );
        }
    }
}
