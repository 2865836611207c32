//! Operational webhooks: events about an account's webhook set-up itself (its endpoints, its
//! failing deliveries, its background tasks), sent to the account's *operational endpoints*
//! with Svix's event types and payload shapes (`{"type": …, "data": {…}}`).
//!
//! Pure: which events a change causes is decided here (and, for the worker's batch record, in
//! [`crate::delivery`]); the store writes them as messages to the operational endpoints in the
//! transaction of the change, and the ordinary delivery worker sends them signed and retried.

use serde_json::{json, Value};

/// An operational event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpEventType {
    /// An endpoint was added.
    EndpointCreated,
    /// An endpoint's settings changed.
    EndpointUpdated,
    /// An endpoint was deleted.
    EndpointDeleted,
    /// An endpoint was disabled: by hand, after a 410, or by the failure clock.
    EndpointDisabled,
    /// A disabled endpoint was enabled again.
    EndpointEnabled,
    /// A delivery failed for good (no retry left).
    AttemptExhausted,
    /// A delivery failed for the fourth time and will be retried.
    AttemptFailing,
    /// A delivery that had been reported failing succeeded.
    AttemptRecovered,
    /// A background task (recover, replay) finished.
    BackgroundTaskFinished,
}

impl OpEventType {
    /// Every operational type, in a stable order.
    pub const ALL: [OpEventType; 9] = [
        OpEventType::EndpointCreated,
        OpEventType::EndpointUpdated,
        OpEventType::EndpointDeleted,
        OpEventType::EndpointDisabled,
        OpEventType::EndpointEnabled,
        OpEventType::AttemptExhausted,
        OpEventType::AttemptFailing,
        OpEventType::AttemptRecovered,
        OpEventType::BackgroundTaskFinished,
    ];

    /// Svix's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            OpEventType::EndpointCreated => "endpoint.created",
            OpEventType::EndpointUpdated => "endpoint.updated",
            OpEventType::EndpointDeleted => "endpoint.deleted",
            OpEventType::EndpointDisabled => "endpoint.disabled",
            OpEventType::EndpointEnabled => "endpoint.enabled",
            OpEventType::AttemptExhausted => "message.attempt.exhausted",
            OpEventType::AttemptFailing => "message.attempt.failing",
            OpEventType::AttemptRecovered => "message.attempt.recovered",
            OpEventType::BackgroundTaskFinished => "background_task.finished",
        }
    }

    /// The type a name stands for.
    pub fn parse(s: &str) -> Option<OpEventType> {
        OpEventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The application id shown for an account (`app_<account id>`); its uid is the account name.
pub fn app_id(account_id: i64) -> String {
    format!("app_{account_id}")
}

/// The endpoint an operational event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRef {
    /// The owning account's id.
    pub account_id: i64,
    /// The owning account's name (the application's uid).
    pub account_name: String,
    /// `ep_…`.
    pub endpoint_id: String,
    /// The endpoint's uid, if it has one.
    pub endpoint_uid: Option<String>,
}

impl EndpointRef {
    fn data(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("appId".into(), json!(app_id(self.account_id)));
        m.insert("appUid".into(), json!(self.account_name));
        m.insert("endpointId".into(), json!(self.endpoint_id));
        m.insert("endpointUid".into(), json!(self.endpoint_uid));
        m
    }
}

/// An operational event ready to be queued: its type and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct OpEvent {
    /// Its type.
    pub event_type: OpEventType,
    /// `{"type": …, "data": {…}}`, as Svix sends it.
    pub payload: Value,
}

fn event(event_type: OpEventType, data: Value) -> OpEvent {
    OpEvent {
        event_type,
        payload: json!({"type": event_type.as_str(), "data": data}),
    }
}

/// `endpoint.created|updated|deleted|enabled`: the endpoint and its application.
pub fn endpoint_event(event_type: OpEventType, ep: &EndpointRef) -> OpEvent {
    event(event_type, Value::Object(ep.data()))
}

/// Who disabled an endpoint, as `endpoint.disabled` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableTrigger {
    /// Through the API or the web page.
    Manual,
    /// The failure clock, or a 410 from the receiver.
    Automatic,
}

/// `endpoint.disabled`, with the start of the failures (RFC 3339) when the failure clock ran.
pub fn endpoint_disabled(
    ep: &EndpointRef,
    trigger: DisableTrigger,
    fail_since: Option<String>,
) -> OpEvent {
    let mut d = ep.data();
    d.insert(
        "trigger".into(),
        json!(match trigger {
            DisableTrigger::Manual => "manual",
            DisableTrigger::Automatic => "automatic",
        }),
    );
    d.insert("failSince".into(), json!(fail_since));
    event(OpEventType::EndpointDisabled, Value::Object(d))
}

/// The events a user's change of an endpoint causes: always `endpoint.updated`, and
/// `endpoint.disabled` (manual) or `endpoint.enabled` when its enabled state flipped.
pub fn update_events(ep: &EndpointRef, was_disabled: bool, disabled: bool) -> Vec<OpEvent> {
    let mut out = vec![endpoint_event(OpEventType::EndpointUpdated, ep)];
    match (was_disabled, disabled) {
        (false, true) => out.push(endpoint_disabled(ep, DisableTrigger::Manual, None)),
        (true, false) => out.push(endpoint_event(OpEventType::EndpointEnabled, ep)),
        _ => {}
    }
    out
}

/// The attempt a `message.attempt.*` event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAttempt {
    /// `atmpt_…`.
    pub id: String,
    /// The receiver's HTTP status (0: no answer).
    pub response_status_code: i64,
    /// When (RFC 3339).
    pub timestamp: String,
}

/// `message.attempt.exhausted|failing|recovered`.
pub fn attempt_event(
    event_type: OpEventType,
    ep: &EndpointRef,
    msg_id: &str,
    msg_event_id: Option<&str>,
    last: &LastAttempt,
) -> OpEvent {
    let mut d = ep.data();
    d.remove("endpointUid");
    d.insert("msgId".into(), json!(msg_id));
    d.insert("msgEventId".into(), json!(msg_event_id));
    d.insert(
        "lastAttempt".into(),
        json!({
            "id": last.id,
            "responseStatusCode": last.response_status_code,
            "timestamp": last.timestamp,
        }),
    );
    event(event_type, Value::Object(d))
}

/// `background_task.finished`: the task's id, type, final status and result data.
pub fn task_finished(task_id: &str, task: &str, status: &str, data: Value) -> OpEvent {
    event(
        OpEventType::BackgroundTaskFinished,
        json!({"taskId": task_id, "task": task, "status": status, "data": data}),
    )
}

/// Whether an operational endpoint subscribed to `event_types` (`None`: all) gets `t`.
pub fn op_endpoint_wants(event_types: Option<&[String]>, t: OpEventType) -> bool {
    event_types.is_none_or(|l| l.iter().any(|x| x == t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> EndpointRef {
        EndpointRef {
            account_id: 7,
            account_name: "alice".into(),
            endpoint_id: "ep_1".into(),
            endpoint_uid: Some("hook".into()),
        }
    }

    #[test]
    fn names_round_trip() {
        for t in OpEventType::ALL {
            assert_eq!(OpEventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(OpEventType::parse("sample.created"), None);
    }

    #[test]
    fn payloads_have_svix_shapes() {
        let e = endpoint_event(OpEventType::EndpointCreated, &ep());
        assert_eq!(
            e.payload,
            json!({"type": "endpoint.created", "data": {
                "appId": "app_7", "appUid": "alice", "endpointId": "ep_1", "endpointUid": "hook"}})
        );
        let d = endpoint_disabled(&ep(), DisableTrigger::Automatic, Some("t0".into()));
        assert_eq!(d.payload["data"]["trigger"], "automatic");
        assert_eq!(d.payload["data"]["failSince"], "t0");
        let last = LastAttempt {
            id: "atmpt_1".into(),
            response_status_code: 500,
            timestamp: "t1".into(),
        };
        let a = attempt_event(OpEventType::AttemptExhausted, &ep(), "msg_1", None, &last);
        assert_eq!(a.payload["type"], "message.attempt.exhausted");
        assert_eq!(a.payload["data"]["lastAttempt"]["responseStatusCode"], 500);
        assert_eq!(a.payload["data"]["msgId"], "msg_1");
        assert!(a.payload["data"].get("endpointUid").is_none());
    }

    #[test]
    fn an_update_reports_flips_of_the_enabled_state() {
        let types = |a, b| {
            update_events(&ep(), a, b)
                .into_iter()
                .map(|e| e.event_type)
                .collect::<Vec<_>>()
        };
        assert_eq!(types(false, false), vec![OpEventType::EndpointUpdated]);
        assert_eq!(
            types(false, true),
            vec![OpEventType::EndpointUpdated, OpEventType::EndpointDisabled]
        );
        assert_eq!(
            types(true, false),
            vec![OpEventType::EndpointUpdated, OpEventType::EndpointEnabled]
        );
        assert!(op_endpoint_wants(None, OpEventType::AttemptFailing));
        assert!(!op_endpoint_wants(
            Some(&["endpoint.created".to_owned()]),
            OpEventType::AttemptFailing
        ));
    }
}
