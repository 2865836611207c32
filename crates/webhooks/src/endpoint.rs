//! Rules for endpoint settings: which URLs, event types, channels and custom headers are
//! acceptable, read from the camelCase bodies of the management API.

use serde_json::{Map, Value};

use datahooks_domain::events::EventType;
use datahooks_domain::Error;
use datahooks_store::webhooks::{Endpoint, EndpointInput};

use crate::ssrf::DestinationPolicy;

/// Headers a user may not set: hop-by-hop, framing, caching and our own signature headers.
const FORBIDDEN_HEADERS: &[&str] = &[
    "user-agent",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "age",
    "cache-control",
    "clear-site-data",
    "expires",
    "pragma",
    "warning",
    "content-length",
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
    "host",
    "connection",
];
const FORBIDDEN_PREFIXES: &[&str] = &[
    "x-amz-", "x-amzn-", "x-google", "x-goog-", "x-gfe", "x-azure-", "x-fd-", "x-svix-", "svix-",
    "webhook-",
];
/// Headers whose values are never shown back.
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
    "www-authenticate",
    "x-api-key",
    "x-auth-token",
];
/// Most custom headers on one endpoint.
pub const MAX_HEADERS: usize = 20;
/// Longest custom header value, in bytes.
pub const MAX_HEADER_VALUE: usize = 4096;
/// Longest custom header name, in bytes.
pub const MAX_HEADER_NAME: usize = 256;

/// RFC 9110 `tchar`: what a header name (a `token`) is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `field-value`, restricted to ASCII: visible characters, space and tab. Anything
/// else (NUL, other controls, DEL, line breaks, non-ASCII) would be refused by the HTTP client
/// at delivery, failing every delivery to the endpoint, or worse, split the header.
fn is_field_value_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21..=0x7e)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid("validation", msg)
}

fn get_str(m: &Map<String, Value>, k: &str) -> Result<Option<String>, Error> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("'{k}' must be a string."))),
    }
}

fn get_list(m: &Map<String, Value>, keys: &[&str]) -> Result<Option<Option<Vec<String>>>, Error> {
    for k in keys {
        match m.get(*k) {
            None => continue,
            Some(Value::Null) => return Ok(Some(None)),
            Some(Value::Array(items)) => {
                let list = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid(format!("'{k}' must be a list of strings.")))?;
                return Ok(Some(Some(list)));
            }
            Some(_) => return Err(invalid(format!("'{k}' must be a list of strings or null."))),
        }
    }
    Ok(None)
}

/// Reads an endpoint body. With `base` (PATCH), absent fields keep their values; otherwise
/// (POST, PUT) absent fields take defaults and `url` is required.
pub fn parse(
    m: &Map<String, Value>,
    account: &str,
    policy: &DestinationPolicy,
    base: Option<&Endpoint>,
) -> Result<EndpointInput, Error> {
    parse_with_types(m, account, policy, base, &[])
}

/// Like [`parse`], and the filter may also name the caller's usable custom event types
/// (`custom`: their names; see `datahooks_domain::event_types`).
pub fn parse_with_types(
    m: &Map<String, Value>,
    account: &str,
    policy: &DestinationPolicy,
    base: Option<&Endpoint>,
    custom: &[String],
) -> Result<EndpointInput, Error> {
    let mut input = match base {
        Some(e) => EndpointInput::from(e),
        None => EndpointInput {
            version: 1,
            ..Default::default()
        },
    };
    match get_str(m, "url")? {
        Some(url) => {
            policy
                .check_url(&url)
                .map_err(|e| Error::invalid(e.code(), e.to_string()))?;
            input.url = url;
        }
        None if base.is_none() => return Err(invalid("'url' is required.")),
        None => {}
    }
    if let Some(d) = get_str(m, "description")? {
        input.description = d;
    }
    match m.get("version") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v >= 1) => {
            input.version = n.as_i64().unwrap_or(1)
        }
        Some(_) => return Err(invalid("'version' must be a whole number of at least 1.")),
    }
    if let Some(types) = get_list(m, &["eventTypes", "filterTypes"])? {
        if let Some(list) = &types {
            if list.is_empty() {
                return Err(invalid(
                    "'eventTypes' must name at least one event type, or be null for all.",
                ));
            }
            for t in list {
                if custom.contains(t) {
                    continue;
                }
                EventType::parse(t).map_err(|_| {
                    invalid(format!(
                        "Unknown event type {t:?}; the event types are: {}{}.",
                        EventType::ALL.map(|t| t.as_str()).join(", "),
                        if custom.is_empty() {
                            String::new()
                        } else {
                            format!(", and your own: {}", custom.join(", "))
                        }
                    ))
                })?;
            }
        }
        input.event_types = types;
    }
    if let Some(channels) = get_list(m, &["channels"])? {
        if let Some(list) = &channels {
            if list.is_empty() || list.len() > 10 {
                return Err(invalid(
                    "'channels' must list 1 to 10 datasets, or be null for all.",
                ));
            }
            for c in list {
                let owner = c.split('/').next().unwrap_or("");
                if owner != account || c.split('/').count() != 2 {
                    return Err(invalid(format!(
                        "Channel {c:?} is not a dataset of {account}: channels are dataset names like {account}/flowers."
                    )));
                }
            }
        }
        input.channels = channels;
    }
    match m.get("disabled") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => input.disabled = *b,
        Some(_) => return Err(invalid("'disabled' must be true or false.")),
    }
    match m.get("throttleRate").or_else(|| m.get("rateLimit")) {
        None => {}
        Some(Value::Null) => input.throttle_rate = None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v >= 1) => {
            input.throttle_rate = n.as_i64()
        }
        Some(_) => {
            return Err(invalid(
                "'throttleRate' must be a whole number of messages per second (at least 1).",
            ))
        }
    }
    match m.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => input.metadata = o.clone(),
        Some(_) => return Err(invalid("'metadata' must be an object.")),
    }
    if let Some(uid) = get_str(m, "uid")? {
        let ok = !uid.is_empty()
            && uid.len() <= 256
            && uid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !uid.starts_with("ep_");
        if !ok {
            return Err(invalid(
                "'uid' must be 1-256 of [A-Za-z0-9-_.] and not start with 'ep_'.",
            ));
        }
        input.uid = Some(uid);
    }
    Ok(input)
}

/// The DNS half of the destination check, for a URL that a create or update sets: a name
/// whose every address is forbidden is refused now ([`parse`] has already checked the URL's
/// shape, IP literals and names of the localhost family). The connect-time guard still runs
/// on every delivery.
pub async fn check_resolved(policy: &DestinationPolicy, url: &str) -> Result<(), Error> {
    policy
        .check_destination(url)
        .await
        .map(|_| ())
        .map_err(|e| Error::invalid(e.code(), e.to_string()))
}

/// Checks custom headers: names are RFC 9110 tokens (at most [`MAX_HEADER_NAME`] bytes) and not
/// reserved, values are strings of visible ASCII, space and tab (at most [`MAX_HEADER_VALUE`]
/// bytes), and there are at most [`MAX_HEADERS`]. Names are lower-cased.
pub fn check_headers(v: &Value) -> Result<Map<String, Value>, Error> {
    let Value::Object(m) = v else {
        return Err(invalid(
            "'headers' must be an object of header names to values.",
        ));
    };
    let mut out = Map::new();
    for (k, v) in m {
        let name = k.to_ascii_lowercase();
        if name.is_empty() || name.len() > MAX_HEADER_NAME || !name.bytes().all(is_tchar) {
            return Err(invalid(format!(
                "{:?} is not a valid header name: a name is 1 to {MAX_HEADER_NAME} of the \
                 characters A-Z a-z 0-9 !#$%&'*+-.^_`|~.",
                shorten(k)
            )));
        }
        if FORBIDDEN_HEADERS.contains(&name.as_str())
            || FORBIDDEN_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            return Err(invalid(format!(
                "The header {k:?} may not be set on an endpoint."
            )));
        }
        let Value::String(s) = v else {
            return Err(invalid(format!(
                "The value of header {k:?} must be a string."
            )));
        };
        if s.len() > MAX_HEADER_VALUE {
            return Err(invalid(format!(
                "The value of header {k:?} is {} bytes long; the maximum is {MAX_HEADER_VALUE}.",
                s.len()
            )));
        }
        if let Some(bad) = s.bytes().find(|b| !is_field_value_byte(*b)) {
            return Err(invalid(format!(
                "The value of header {k:?} contains the byte 0x{bad:02x}: header values may \
                 hold only visible ASCII characters, spaces and tabs."
            )));
        }
        out.insert(name, Value::String(s.clone()));
    }
    check_header_count(&out)?;
    Ok(out)
}

/// Refuses more than [`MAX_HEADERS`] custom headers (also after a PATCH merged new ones in).
pub fn check_header_count(headers: &Map<String, Value>) -> Result<(), Error> {
    if headers.len() > MAX_HEADERS {
        return Err(invalid(format!(
            "An endpoint may have at most {MAX_HEADERS} custom headers, not {}.",
            headers.len()
        )));
    }
    Ok(())
}

fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Headers for display: sensitive values replaced, and the list of their names.
pub fn redact(headers: &Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let mut shown = Map::new();
    let mut sensitive = Vec::new();
    for (k, v) in headers {
        if SENSITIVE_HEADERS.contains(&k.as_str()) {
            sensitive.push(k.clone());
            shown.insert(k.clone(), Value::String("<redacted>".into()));
        } else {
            shown.insert(k.clone(), v.clone());
        }
    }
    (shown, sensitive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> DestinationPolicy {
        DestinationPolicy::new(vec!["127.0.0.0/8".parse().unwrap()])
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn endpoint_bodies() {
        let p = policy();
        let e = parse(
            &obj(json!({"url": "http://127.0.0.1:9/x", "eventTypes": ["sample.created"]})),
            "jane",
            &p,
            None,
        )
        .unwrap();
        assert_eq!(e.version, 1);
        assert_eq!(e.event_types, Some(vec!["sample.created".to_owned()]));
        for bad in [
            json!({}),
            json!({"url": "ftp://127.0.0.1/"}),
            json!({"url": "http://10.0.0.1/"}),
            json!({"url": "http://127.0.0.1/", "eventTypes": ["nope"]}),
            json!({"url": "http://127.0.0.1/", "eventTypes": []}),
            json!({"url": "http://127.0.0.1/", "channels": ["bob/x"]}),
            json!({"url": "http://127.0.0.1/", "version": 0}),
            json!({"url": "http://127.0.0.1/", "throttleRate": -1}),
        ] {
            assert!(
                parse(&obj(bad.clone()), "jane", &p, None).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn headers_rules() {
        assert!(check_headers(&json!({"X-Team": "a"})).is_ok());
        for bad in [
            json!({"content-type": "x"}),
            json!({"svix-id": "x"}),
            json!({"x-a": 1}),
            json!({"x-a": "a\nb"}),
            json!([]),
        ] {
            assert!(check_headers(&bad).is_err(), "{bad} accepted");
        }
        // Tokens may use every tchar; values visible ASCII, space and tab.
        assert!(check_headers(&json!({"X-A.b~c!#$%&'*+^_`|": "a b\tc ~!\"#"})).is_ok());
        for bad_name in ["x a", "x:a", "x(a)", "x/a", "é", "x\u{0}", ""] {
            let err = check_headers(&json!({ bad_name: "v" })).unwrap_err();
            assert!(
                err.to_string().contains("not a valid header name"),
                "{bad_name:?}"
            );
        }
        assert!(check_headers(&json!({ "x".repeat(MAX_HEADER_NAME): "v" })).is_ok());
        assert!(check_headers(&json!({ "x".repeat(MAX_HEADER_NAME + 1): "v" })).is_err());
        for bad in ["a\u{0}b", "\u{1}", "\u{7f}", "\u{b}", "a\rb", "é", "\u{85}"] {
            let err = check_headers(&json!({ "x-a": bad })).unwrap_err();
            assert!(err.to_string().contains("visible ASCII"), "{bad:?}: {err}");
            assert_eq!(err.code(), "validation");
        }
        assert!(check_headers(&json!({"x-a": "v".repeat(MAX_HEADER_VALUE)})).is_ok());
        let err = check_headers(&json!({"x-a": "v".repeat(MAX_HEADER_VALUE + 1)})).unwrap_err();
        assert!(err.to_string().contains("maximum is 4096"), "{err}");
        let many =
            |n: usize| Value::Object((0..n).map(|i| (format!("x-h{i}"), json!("v"))).collect());
        assert!(check_headers(&many(MAX_HEADERS)).is_ok());
        let err = check_headers(&many(MAX_HEADERS + 1)).unwrap_err();
        assert!(err.to_string().contains("at most 20"), "{err}");

        let (shown, sensitive) = redact(&obj(json!({"authorization": "secret", "x-team": "a"})));
        assert_eq!(shown["authorization"], "<redacted>");
        assert_eq!(sensitive, vec!["authorization".to_owned()]);
    }
}
