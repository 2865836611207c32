//! Rules for operational endpoint settings: the same body as an application endpoint
//! ([`crate::endpoint::parse`]: URL and destination policy, description, `throttleRate`,
//! metadata, uid, disabled), except that the event types are the operational ones and there
//! are no channels.

use serde_json::{Map, Value};

use datahooks_domain::operational::OpEventType;
use datahooks_domain::Error;
use datahooks_store::webhooks::{Endpoint, EndpointInput};

use crate::endpoint::parse;
use crate::ssrf::DestinationPolicy;

/// Reads an operational endpoint body; with `base` (an update), absent fields keep their
/// values.
pub fn parse_operational(
    m: &Map<String, Value>,
    policy: &DestinationPolicy,
    base: Option<&Endpoint>,
) -> Result<EndpointInput, Error> {
    if m.get("channels").is_some_and(|c| !c.is_null()) {
        return Err(Error::invalid(
            "validation",
            "Operational endpoints have no channels.",
        ));
    }
    let mut rest = m.clone();
    let types = ["eventTypes", "filterTypes"]
        .iter()
        .find_map(|k| rest.get(*k).cloned());
    rest.remove("eventTypes");
    rest.remove("filterTypes");
    rest.remove("channels");
    // The account name only checks channels, which operational endpoints have none of.
    let mut input = parse(&rest, "", policy, base)?;
    match types {
        None => {}
        Some(Value::Null) => input.event_types = None,
        Some(Value::Array(items)) => {
            let mut list = Vec::with_capacity(items.len());
            for t in &items {
                match t.as_str().and_then(OpEventType::parse) {
                    Some(t) => list.push(t.as_str().to_owned()),
                    None => {
                        return Err(Error::invalid(
                            "validation",
                            format!(
                                "Unknown operational event type {t}; they are: {}.",
                                OpEventType::ALL.map(OpEventType::as_str).join(", ")
                            ),
                        ))
                    }
                }
            }
            if list.is_empty() {
                return Err(Error::invalid(
                    "validation",
                    "'eventTypes' must name at least one event type, or be null for all.",
                ));
            }
            input.event_types = Some(list);
        }
        Some(_) => {
            return Err(Error::invalid(
                "validation",
                "'eventTypes' must be a list of strings or null.",
            ))
        }
    }
    input.channels = None;
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn operational_types_only_and_no_channels() {
        let p = DestinationPolicy::default();
        let ok = parse_operational(
            &body(json!({"url": "https://example.com/ops", "eventTypes": ["endpoint.disabled"]})),
            &p,
            None,
        )
        .unwrap();
        assert_eq!(ok.event_types, Some(vec!["endpoint.disabled".to_owned()]));
        for bad in [
            json!({"url": "https://example.com/ops", "eventTypes": ["sample.created"]}),
            json!({"url": "https://example.com/ops", "eventTypes": []}),
            json!({"url": "https://example.com/ops", "channels": ["a/b"]}),
            json!({"eventTypes": null}),
        ] {
            assert!(
                parse_operational(&body(bad.clone()), &p, None).is_err(),
                "{bad}"
            );
        }
    }
}
