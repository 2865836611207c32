//! Custom event types: the rules for the types an account adds beyond the 11 platform events
//! (Svix's `EventTypeIn`, `EventTypeUpsertIn` and `EventTypePatch`), and which types a message
//! or an endpoint filter may name.
//!
//! The 11 platform types are fixed: they cannot be created, changed or archived. A custom type
//! is usable while it is not archived; deleting one archives it (Svix's default), so the
//! messages and attempts that name it keep their meaning.

use serde_json::{Map, Value};

use crate::events::EventType;
use crate::{Error, Result};

/// Longest event-type name (Svix's limit).
pub const MAX_NAME_LEN: usize = 256;

/// What a client sets on a custom event type (everything but its name).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventTypeInput {
    /// Description (required on create and upsert).
    pub description: String,
    /// Archived: no new messages or filters may name it.
    pub archived: bool,
    /// Deprecated: still usable, shown as such.
    pub deprecated: bool,
    /// JSON schemas by version (`{"1": {…}}`), if any.
    pub schemas: Option<Map<String, Value>>,
    /// Group shown with it.
    pub group_name: Option<String>,
    /// Feature flags, stored and returned.
    pub feature_flags: Option<Vec<String>>,
}

/// Whether `name` is one of the 11 platform event types.
pub fn is_platform(name: &str) -> bool {
    EventType::parse(name).is_ok()
}

/// A name Svix accepts: 1 to 256 of `[a-zA-Z0-9-_.]`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_event_type",
            format!("Event type names are 1-{MAX_NAME_LEN} of [a-zA-Z0-9-_.], not {name:?}."),
        ))
    }
}

/// Whether a message or an endpoint filter may name `name`: a platform type, or a custom type
/// of the account (`custom`: its state, `None` when it has no such type) that is not archived.
pub fn is_usable(name: &str, custom: Option<&EventTypeInput>) -> bool {
    is_platform(name) || custom.is_some_and(|t| !t.archived)
}

/// Whether a message may name `name`, given every type the account declared (archived ones
/// included): while it has declared none, any well-formed name (as Svix accepts, and as before
/// custom types existed); once it has, a platform type or a usable declared one.
pub fn message_may_name<'a>(
    name: &str,
    declared: impl IntoIterator<Item = (&'a str, &'a EventTypeInput)>,
) -> bool {
    let mut any = false;
    let mut found = None;
    for (n, t) in declared {
        any = true;
        if n == name {
            found = Some(t);
        }
    }
    !any || is_usable(name, found)
}

/// The message for a type a message or filter may not name.
pub fn unknown_message(name: &str) -> String {
    format!(
        "Unknown event type {name:?}: use one of the 11 platform event types or create it first \
         (POST /api/v1/event-type)."
    )
}

/// The body of a create (`name` included) or of an upsert (`name` in the path): every field
/// absent takes its default; `description` is required.
pub fn parse_new(m: &Map<String, Value>) -> Result<EventTypeInput> {
    let mut input = EventTypeInput::default();
    apply(m, &mut input)?;
    match m.get("description") {
        Some(Value::String(_)) => Ok(input),
        _ => Err(Error::invalid(
            "missing_field",
            "Field 'description' is required.",
        )),
    }
}

/// A patch: only the fields present change (`null` clears the optional ones).
pub fn parse_patch(m: &Map<String, Value>, base: &EventTypeInput) -> Result<EventTypeInput> {
    let mut input = base.clone();
    apply(m, &mut input)?;
    Ok(input)
}

fn apply(m: &Map<String, Value>, input: &mut EventTypeInput) -> Result<()> {
    let invalid = |msg: &str| Error::invalid("invalid_field", msg.to_owned());
    match m.get("description") {
        None => {}
        Some(Value::String(s)) => input.description = s.clone(),
        Some(_) => return Err(invalid("'description' must be a string.")),
    }
    for (field, target) in [
        ("archived", &mut input.archived),
        ("deprecated", &mut input.deprecated),
    ] {
        match m.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => *target = *b,
            Some(_) => return Err(invalid(&format!("'{field}' must be true or false."))),
        }
    }
    match m.get("schemas") {
        None => {}
        Some(Value::Null) => input.schemas = None,
        Some(Value::Object(o)) if o.values().all(Value::is_object) => {
            input.schemas = Some(o.clone())
        }
        Some(_) => {
            return Err(invalid(
                "'schemas' must map versions to JSON Schema objects, e.g. {\"1\": {…}}.",
            ))
        }
    }
    match m.get("groupName") {
        None => {}
        Some(Value::Null) => input.group_name = None,
        Some(Value::String(s)) => input.group_name = Some(s.clone()),
        Some(_) => return Err(invalid("'groupName' must be a string.")),
    }
    match m.get("featureFlags") {
        None => {}
        Some(Value::Null) => input.feature_flags = None,
        Some(Value::Array(items)) => {
            let flags = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("'featureFlags' must be a list of strings."))?;
            input.feature_flags = Some(flags);
        }
        Some(_) => return Err(invalid("'featureFlags' must be a list of strings.")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn names_follow_svix() {
        assert!(check_name("invoice.paid").is_ok());
        assert!(check_name("a-b_c.D9").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name(&"x".repeat(257)).is_err());
        assert!(check_name(&"x".repeat(256)).is_ok());
    }

    #[test]
    fn platform_types_are_always_usable_custom_ones_while_not_archived() {
        assert!(is_usable("sample.created", None));
        assert!(!is_usable("invoice.paid", None));
        let mut t = EventTypeInput {
            description: "d".into(),
            ..Default::default()
        };
        assert!(is_usable("invoice.paid", Some(&t)));
        t.archived = true;
        assert!(!is_usable("invoice.paid", Some(&t)));
        assert!(is_platform("release.created") && !is_platform("invoice.paid"));
    }

    #[test]
    fn messages_are_free_until_a_type_is_declared() {
        let live = EventTypeInput::default();
        let archived = EventTypeInput {
            archived: true,
            ..Default::default()
        };
        assert!(message_may_name("anything.goes", []));
        let declared = [("invoice.paid", &live), ("invoice.old", &archived)];
        assert!(message_may_name("invoice.paid", declared));
        assert!(message_may_name("sample.created", declared));
        assert!(!message_may_name("anything.goes", declared));
        assert!(!message_may_name("invoice.old", declared));
    }

    #[test]
    fn create_needs_a_description_and_takes_schemas() {
        assert!(parse_new(&map(json!({"name": "x"}))).is_err());
        let t = parse_new(&map(
            json!({"description": "Paid", "schemas": {"1": {"type": "object"}},
                                      "groupName": "billing", "featureFlags": ["beta"]}),
        ))
        .unwrap();
        assert_eq!(t.description, "Paid");
        assert_eq!(t.schemas.unwrap()["1"], json!({"type": "object"}));
        assert_eq!(t.group_name.as_deref(), Some("billing"));
        assert_eq!(t.feature_flags, Some(vec!["beta".to_owned()]));
        assert!(!t.archived && !t.deprecated);
        assert!(parse_new(&map(json!({"description": "d", "schemas": {"1": 3}}))).is_err());
        assert!(parse_new(&map(json!({"description": "d", "archived": "yes"}))).is_err());
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let base = parse_new(&map(json!({"description": "Paid", "groupName": "billing"}))).unwrap();
        let p = parse_patch(&map(json!({"deprecated": true})), &base).unwrap();
        assert_eq!((p.description.as_str(), p.deprecated), ("Paid", true));
        assert_eq!(p.group_name.as_deref(), Some("billing"));
        let p = parse_patch(&map(json!({"groupName": null, "archived": true})), &p).unwrap();
        assert_eq!((p.group_name, p.archived, p.deprecated), (None, true, true));
    }
}
