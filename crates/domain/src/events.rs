//! The 11 webhook event types and the payload each change produces.
//!
//! Payload: `{event_type, created_at, api_version, dataset, object, text}`, with `object` the
//! JSON the API returns for the object and `text` a one-line summary fit for a Slack message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Dataset, Issue, Label, Release, Sample};
use crate::{Error, Result};

/// The API version stamped on every payload.
pub const API_VERSION: &str = "2021-08-01";

/// One of the 11 event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A dataset was created (also by cloning).
    #[serde(rename = "dataset.created")]
    DatasetCreated,
    /// A dataset property changed.
    #[serde(rename = "dataset.updated")]
    DatasetUpdated,
    /// A dataset was deleted.
    #[serde(rename = "dataset.deleted")]
    DatasetDeleted,
    /// A sample was created.
    #[serde(rename = "sample.created")]
    SampleCreated,
    /// A sample property changed.
    #[serde(rename = "sample.updated")]
    SampleUpdated,
    /// A sample was deleted.
    #[serde(rename = "sample.deleted")]
    SampleDeleted,
    /// A label was created or changed.
    #[serde(rename = "label.updated")]
    LabelUpdated,
    /// A label was deleted.
    #[serde(rename = "label.deleted")]
    LabelDeleted,
    /// An issue was raised.
    #[serde(rename = "issue.created")]
    IssueCreated,
    /// An issue changed or received a reply.
    #[serde(rename = "issue.updated")]
    IssueUpdated,
    /// A release finished building successfully.
    #[serde(rename = "release.created")]
    ReleaseCreated,
}

impl EventType {
    /// All 11, in the order the product page lists them.
    pub const ALL: [EventType; 11] = [
        EventType::DatasetCreated,
        EventType::DatasetUpdated,
        EventType::DatasetDeleted,
        EventType::SampleCreated,
        EventType::SampleUpdated,
        EventType::SampleDeleted,
        EventType::LabelUpdated,
        EventType::LabelDeleted,
        EventType::IssueCreated,
        EventType::IssueUpdated,
        EventType::ReleaseCreated,
    ];

    /// The wire name, e.g. `sample.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DatasetCreated => "dataset.created",
            EventType::DatasetUpdated => "dataset.updated",
            EventType::DatasetDeleted => "dataset.deleted",
            EventType::SampleCreated => "sample.created",
            EventType::SampleUpdated => "sample.updated",
            EventType::SampleDeleted => "sample.deleted",
            EventType::LabelUpdated => "label.updated",
            EventType::LabelDeleted => "label.deleted",
            EventType::IssueCreated => "issue.created",
            EventType::IssueUpdated => "issue.updated",
            EventType::ReleaseCreated => "release.created",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<EventType> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::invalid("invalid_event_type", format!("Unknown event type {s:?}."))
            })
    }

    /// What the product page says the event means.
    pub fn description(self) -> &'static str {
        match self {
            EventType::DatasetCreated => "Occurs whenever a dataset is created.",
            EventType::DatasetUpdated => "Occurs whenever a dataset property has changed.",
            EventType::DatasetDeleted => "Occurs whenever a dataset is deleted.",
            EventType::SampleCreated => "Occurs whenever a sample is created.",
            EventType::SampleUpdated => "Occurs whenever a sample property has changed.",
            EventType::SampleDeleted => "Occurs whenever a sample is deleted.",
            EventType::LabelUpdated => "Occurs whenever a label property has changed.",
            EventType::LabelDeleted => "Occurs whenever a label is deleted.",
            EventType::IssueCreated => "Occurs whenever an issue is created.",
            EventType::IssueUpdated => {
                "Occurs whenever an issue has received a reply or a property has changed."
            }
            EventType::ReleaseCreated => "Occurs whenever a new release is successfully created.",
        }
    }

    /// The kind of object the event carries (`dataset`, `sample`, …).
    pub fn object_kind(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or("")
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The webhook payload, fields in the documented order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// The event type.
    pub event_type: EventType,
    /// When the change was committed (RFC 3339, microseconds, `+00:00`).
    pub created_at: String,
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// `owner/name` of the dataset the change happened in.
    pub dataset: String,
    /// The object, as the API returns it (its last state for deletions).
    pub object: Value,
    /// A one-line human summary.
    pub text: String,
}

/// An event ready to be written to the outbox with the change that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event type.
    pub event_type: EventType,
    /// `owner/name` of the dataset.
    pub dataset: String,
    /// The account that owns the dataset: the only one whose webhooks receive it.
    pub owner: String,
    /// The payload.
    pub payload: Payload,
}

impl NewEvent {
    fn new(
        event_type: EventType,
        dataset: &str,
        object: Value,
        text: String,
        at: DateTime<Utc>,
    ) -> NewEvent {
        let owner = dataset.split('/').next().unwrap_or_default().to_owned();
        NewEvent {
            event_type,
            dataset: dataset.to_owned(),
            owner,
            payload: Payload {
                event_type,
                created_at: crate::time::format(at),
                api_version: API_VERSION.to_owned(),
                dataset: dataset.to_owned(),
                object,
                text: one_line(&text),
            },
        }
    }

    /// The payload as the exact JSON bytes to store and deliver.
    pub fn payload_json(&self) -> String {
        serde_json::to_string(&self.payload).unwrap_or_default()
    }
}

/// Keeps a summary on one line and of a readable length.
fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 300 {
        let cut: String = flat.chars().take(297).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `dataset.created`, `dataset.updated` or `dataset.deleted`.
pub fn dataset_event(kind: EventType, ds: &Dataset, at: DateTime<Utc>) -> NewEvent {
    let verb = match kind {
        EventType::DatasetCreated if ds.cloned_from.is_some() => {
            "created (cloned from ".to_owned() + ds.cloned_from.as_deref().unwrap_or_default() + ")"
        }
        EventType::DatasetCreated => "created".to_owned(),
        EventType::DatasetDeleted => "deleted".to_owned(),
        _ => "updated".to_owned(),
    };
    let text = format!("Dataset {} {verb}.", ds.full_name);
    NewEvent::new(kind, &ds.full_name, json(ds), text, at)
}

/// `sample.created`, `sample.updated` or `sample.deleted`.
pub fn sample_event(kind: EventType, s: &Sample, at: DateTime<Utc>) -> NewEvent {
    let verb = match kind {
        EventType::SampleCreated => "created",
        EventType::SampleDeleted => "deleted",
        _ => "updated",
    };
    let text = format!(
        "Sample {} {verb} in dataset {}.",
        s.name, s.dataset_full_name
    );
    NewEvent::new(kind, &s.dataset_full_name, json(s), text, at)
}

/// `label.updated` (created or changed) or `label.deleted`.
pub fn label_event(kind: EventType, l: &Label, dataset: &str, at: DateTime<Utc>) -> NewEvent {
    let text = if kind == EventType::LabelDeleted {
        format!(
            "Label of sample {} in labelset {} deleted in dataset {dataset}.",
            l.sample_name, l.labelset
        )
    } else {
        format!(
            "Label of sample {} in labelset {} set to {} in dataset {dataset}.",
            l.sample_name, l.labelset, l.label_status
        )
    };
    NewEvent::new(kind, dataset, json(l), text, at)
}

/// What changed on an issue, for its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueChange<'a> {
    /// It was raised.
    Created,
    /// A property changed.
    Updated,
    /// Someone replied.
    Replied {
        /// Who replied.
        by: &'a str,
        /// The reply.
        text: &'a str,
    },
}

/// `issue.created` or `issue.updated`.
pub fn issue_event(change: IssueChange<'_>, i: &Issue, at: DateTime<Utc>) -> NewEvent {
    let (kind, text) = match change {
        IssueChange::Created => (
            EventType::IssueCreated,
            format!(
                "Issue created on sample {} in dataset {} by {}: {}",
                i.sample_name, i.dataset, i.created_by, i.description
            ),
        ),
        IssueChange::Updated => (
            EventType::IssueUpdated,
            format!(
                "Issue on sample {} in dataset {} updated ({}) by {}.",
                i.sample_name, i.dataset, i.status, i.updated_by
            ),
        ),
        IssueChange::Replied { by, text } => (
            EventType::IssueUpdated,
            format!(
                "New reply by {by} on issue on sample {} in dataset {}: {text}",
                i.sample_name, i.dataset
            ),
        ),
    };
    NewEvent::new(kind, &i.dataset, json(i), text, at)
}

/// `release.created`, fired when the release file is built.
pub fn release_event(r: &Release, dataset: &str, at: DateTime<Utc>) -> NewEvent {
    let text = format!("Release {} created in dataset {dataset}.", r.name);
    NewEvent::new(EventType::ReleaseCreated, dataset, json(r), text, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> Sample {
        Sample {
            uuid: "u".into(),
            name: "rose.png".into(),
            attributes: None,
            metadata: Default::default(),
            created_at: "t".into(),
            created_by: "jane".into(),
            updated_at: "t".into(),
            priority: 0.0,
            assigned_labeler: None,
            assigned_reviewer: None,
            readme: String::new(),
            dataset_full_name: "jane/flowers".into(),
            dataset: "jane/flowers".into(),
            label: None,
        }
    }

    #[test]
    fn sample_created_payload_is_exact() {
        let at = Utc.with_ymd_and_hms(2021, 8, 9, 14, 40, 19).unwrap()
            + chrono::Duration::microseconds(987_691);
        let e = sample_event(EventType::SampleCreated, &sample(), at);
        assert_eq!(e.owner, "jane");
        let v: Value = serde_json::from_str(&e.payload_json()).unwrap();
        assert_eq!(v["event_type"], "sample.created");
        assert_eq!(v["created_at"], "2021-08-09T14:40:19.987691+00:00");
        assert_eq!(v["api_version"], "2021-08-01");
        assert_eq!(v["dataset"], "jane/flowers");
        assert_eq!(v["object"]["name"], "rose.png");
        assert_eq!(
            v["text"],
            "Sample rose.png created in dataset jane/flowers."
        );
        // documented key order
        assert!(e.payload_json().starts_with("{\"event_type\":"));
    }

    #[test]
    fn event_types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()).unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!(EventType::parse("label.created").is_err());
    }

    #[test]
    fn summaries_stay_on_one_line() {
        assert_eq!(one_line("a\nb"), "a b");
        assert_eq!(one_line(&"x".repeat(400)).chars().count(), 300);
    }
}

/// Whether an endpoint subscribed to `event_types` (all when `None`) and limited to `channels`
/// (all when `None`) wants a message of `event_type` on `msg_channels`.
pub fn endpoint_wants(
    event_types: Option<&[String]>,
    channels: Option<&[String]>,
    event_type: &str,
    msg_channels: &[String],
) -> bool {
    let type_ok = event_types.is_none_or(|ts| ts.iter().any(|t| t == event_type));
    let channel_ok = channels.is_none_or(|cs| cs.iter().any(|c| msg_channels.contains(c)));
    type_ok && channel_ok
}

#[cfg(test)]
mod subscription_tests {
    use super::endpoint_wants;

    #[test]
    fn filters_by_type_and_channel() {
        let types = vec!["sample.created".to_owned()];
        let chans = vec!["jane/flowers".to_owned()];
        let on = vec!["jane/flowers".to_owned()];
        let off = vec!["jane/cats".to_owned()];
        assert!(endpoint_wants(None, None, "x", &on));
        assert!(endpoint_wants(Some(&types), None, "sample.created", &on));
        assert!(!endpoint_wants(Some(&types), None, "sample.updated", &on));
        assert!(endpoint_wants(
            Some(&types),
            Some(&chans),
            "sample.created",
            &on
        ));
        assert!(!endpoint_wants(
            Some(&types),
            Some(&chans),
            "sample.created",
            &off
        ));
    }
}
