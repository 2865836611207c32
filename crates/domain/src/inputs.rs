//! Request bodies turned into checked values: what a client may send to create or change a
//! sample, label, issue, release, collaborator or dataset, with the SDK's defaults.
//!
//! Each parser takes the decoded JSON and either returns a value every layer below can trust,
//! or an error naming the offending field.

use serde_json::{Map, Value};

use crate::model::{IssueStatus, LabelStatus, Role};
use crate::names;
use crate::{Error, Result};

/// The body must be a JSON object.
pub fn object(v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(Error::invalid(
            "invalid_body",
            format!(
                "The request body must be a JSON object, not {}.",
                kind(&other)
            ),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(field: &str, expected: &str, got: &Value) -> Error {
    Error::invalid(
        "invalid_field",
        format!("Field '{field}' must be {expected}, not {}.", kind(got)),
    )
}

/// A required string field.
pub fn req_str(m: &Map<String, Value>, field: &str) -> Result<String> {
    match m.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(wrong(field, "a string", v)),
        None => Err(Error::invalid(
            "missing_field",
            format!("Field '{field}' is required."),
        )),
    }
}

/// An optional string field (absent → `None`; `null` refused).
pub fn opt_str(m: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match m.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(wrong(field, "a string", v)),
    }
}

/// A nullable string field: absent → `None`, `null` → `Some(None)`.
pub fn nullable_str(m: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>> {
    match m.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(v) => Err(wrong(field, "a string or null", v)),
    }
}

fn opt_number(m: &Map<String, Value>, field: &str) -> Result<Option<f64>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(v) => Err(wrong(field, "a number", v)),
    }
}

fn opt_object(m: &Map<String, Value>, field: &str) -> Result<Option<Map<String, Value>>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(v) => Err(wrong(field, "an object", v)),
    }
}

/// Attributes: an object or null; `{}` is stored as null because the SDK rejects `{}`.
fn attributes(m: &Map<String, Value>, field: &str) -> Result<Option<Option<Value>>> {
    match m.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(o)) if o.is_empty() => Ok(Some(None)),
        Some(v @ Value::Object(_)) => Ok(Some(Some(v.clone()))),
        Some(v) => Err(wrong(field, "an object", v)),
    }
}

/// A new sample.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSample {
    /// Name, unique in the dataset.
    pub name: String,
    /// Attributes (image URL, frames, …).
    pub attributes: Option<Value>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Priority.
    pub priority: f64,
    /// Readme.
    pub readme: String,
    /// Pinned labeler.
    pub assigned_labeler: Option<String>,
    /// Pinned reviewer.
    pub assigned_reviewer: Option<String>,
}

impl NewSample {
    /// Parses an `add_sample` body.
    pub fn parse(v: Value) -> Result<NewSample> {
        let m = object(v)?;
        Ok(NewSample {
            name: names::object_name(&req_str(&m, "name")?, "sample")?,
            attributes: attributes(&m, "attributes")?.flatten(),
            metadata: opt_object(&m, "metadata")?.unwrap_or_default(),
            priority: opt_number(&m, "priority")?.unwrap_or(0.0),
            readme: opt_str(&m, "readme")?.unwrap_or_default(),
            assigned_labeler: nullable_str(&m, "assigned_labeler")?.flatten(),
            assigned_reviewer: nullable_str(&m, "assigned_reviewer")?.flatten(),
        })
    }

    /// Parses an `add_samples` body: a JSON array of sample objects (at most `max`).
    pub fn parse_many(v: Value, max: usize) -> Result<Vec<NewSample>> {
        let Value::Array(items) = v else {
            return Err(Error::invalid(
                "invalid_body",
                format!(
                    "The request body must be a JSON array of samples, not {}.",
                    kind(&v)
                ),
            ));
        };
        if items.len() > max {
            return Err(Error::invalid(
                "too_many",
                format!("At most {max} samples can be added at once."),
            ));
        }
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                NewSample::parse(item).map_err(|e| match e {
                    Error::Invalid { code, message } => Error::Invalid {
                        code,
                        message: format!("Sample {i}: {message}"),
                    },
                    other => other,
                })
            })
            .collect()
    }
}

/// A change to a sample; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplePatch {
    /// New name.
    pub name: Option<String>,
    /// New attributes.
    pub attributes: Option<Option<Value>>,
    /// New metadata.
    pub metadata: Option<Map<String, Value>>,
    /// New priority.
    pub priority: Option<f64>,
    /// New readme.
    pub readme: Option<String>,
    /// New labeler (`Some(None)` unassigns).
    pub assigned_labeler: Option<Option<String>>,
    /// New reviewer (`Some(None)` unassigns).
    pub assigned_reviewer: Option<Option<String>>,
}

impl SamplePatch {
    /// Parses an `update_sample` body.
    pub fn parse(v: Value) -> Result<SamplePatch> {
        let m = object(v)?;
        let name = match opt_str(&m, "name")? {
            Some(n) => Some(names::object_name(&n, "sample")?),
            None => None,
        };
        let priority = match m.get("priority") {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(v) => return Err(wrong("priority", "a number", v)),
        };
        let metadata = match m.get("metadata") {
            None => None,
            Some(Value::Object(o)) => Some(o.clone()),
            Some(v) => return Err(wrong("metadata", "an object", v)),
        };
        Ok(SamplePatch {
            name,
            attributes: attributes(&m, "attributes")?,
            metadata,
            priority,
            readme: opt_str(&m, "readme")?,
            assigned_labeler: nullable_str(&m, "assigned_labeler")?,
            assigned_reviewer: nullable_str(&m, "assigned_reviewer")?,
        })
    }
}

impl SamplePatch {
    /// The users this patch assigns (to check they exist before applying it).
    pub fn assignees(&self) -> impl Iterator<Item = &String> {
        [&self.assigned_labeler, &self.assigned_reviewer]
            .into_iter()
            .flatten()
            .flatten()
    }

    /// Applies the fields present to `s`; absent fields keep their values.
    pub fn apply_to(&self, s: &mut crate::model::Sample) {
        if let Some(v) = &self.name {
            s.name = v.clone();
        }
        if let Some(v) = &self.attributes {
            s.attributes = v.clone();
        }
        if let Some(v) = &self.metadata {
            s.metadata = v.clone();
        }
        if let Some(v) = self.priority {
            s.priority = v;
        }
        if let Some(v) = &self.readme {
            s.readme = v.clone();
        }
        if let Some(v) = &self.assigned_labeler {
            s.assigned_labeler = v.clone();
        }
        if let Some(v) = &self.assigned_reviewer {
            s.assigned_reviewer = v.clone();
        }
    }
}

/// A label written with PUT (create or replace) or PATCH (change).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelInput {
    /// Status (PUT default `PRELABELED`).
    pub label_status: Option<LabelStatus>,
    /// Attributes.
    pub attributes: Option<Option<Value>>,
    /// Score (`Some(None)` clears it).
    pub score: Option<Option<f64>>,
}

impl LabelInput {
    /// Parses an `add_label`/`update_label` body.
    pub fn parse(v: Value) -> Result<LabelInput> {
        let m = object(v)?;
        let label_status = match m.get("label_status") {
            None => None,
            Some(Value::String(s)) => Some(LabelStatus::parse(s)?),
            Some(v) => return Err(wrong("label_status", "a string", v)),
        };
        let score = match m.get("score") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Number(n)) => Some(n.as_f64()),
            Some(v) => return Err(wrong("score", "a number", v)),
        };
        Ok(LabelInput {
            label_status,
            attributes: attributes(&m, "attributes")?,
            score,
        })
    }
}

/// A label's values after a write, from what was sent and what was there.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelWrite {
    /// Status.
    pub label_status: LabelStatus,
    /// Attributes.
    pub attributes: Option<Value>,
    /// Score.
    pub score: Option<f64>,
    /// When it was last reviewed.
    pub reviewed_at: Option<String>,
    /// Who reviewed it last.
    pub reviewed_by: Option<String>,
}

impl LabelInput {
    /// Applies this input to the `existing` label: PUT (`replace`) resets what is not sent
    /// (status to `PRELABELED`), PATCH keeps it. A review status stamps the reviewer.
    /// `UNLABELED` means "no label" and is refused: delete the label instead.
    pub fn resolve(
        &self,
        existing: Option<&crate::model::Label>,
        replace: bool,
        actor: &str,
        at: &str,
    ) -> Result<LabelWrite> {
        let kept = existing.filter(|_| !replace);
        let label_status = self
            .label_status
            .or(if replace {
                Some(LabelStatus::Prelabeled)
            } else {
                None
            })
            .or(existing.map(|l| l.label_status))
            .unwrap_or(LabelStatus::Prelabeled);
        if label_status == LabelStatus::Unlabeled {
            return Err(Error::invalid(
                "invalid_field",
                "A label cannot have status UNLABELED; delete the label instead.",
            ));
        }
        let attributes = match &self.attributes {
            Some(a) => a.clone(),
            None => kept.and_then(|l| l.attributes.clone()),
        };
        let score = match self.score {
            Some(sc) => sc,
            None => kept.and_then(|l| l.score),
        };
        let reviewed = matches!(
            label_status,
            LabelStatus::Reviewed | LabelStatus::Rejected | LabelStatus::Verified
        );
        let (reviewed_at, reviewed_by) = if reviewed {
            (Some(at.to_owned()), Some(actor.to_owned()))
        } else {
            (
                existing.and_then(|l| l.reviewed_at.clone()),
                existing.and_then(|l| l.reviewed_by.clone()),
            )
        };
        Ok(LabelWrite {
            label_status,
            attributes,
            score,
            reviewed_at,
            reviewed_by,
        })
    }
}

/// A new issue or a change to one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueInput {
    /// Description (required on create).
    pub description: Option<String>,
    /// Status (create default `OPEN`).
    pub status: Option<IssueStatus>,
    /// Anchor (`Some(None)` clears it).
    pub anchor: Option<Option<Value>>,
}

impl IssueInput {
    /// Parses an `add_issue` body (description required).
    pub fn parse_new(v: Value) -> Result<IssueInput> {
        let m = object(v)?;
        req_str(&m, "description")?;
        Self::parse_map(&m)
    }

    /// Parses an `update_issue` body.
    pub fn parse_patch(v: Value) -> Result<IssueInput> {
        Self::parse_map(&object(v)?)
    }

    fn parse_map(m: &Map<String, Value>) -> Result<IssueInput> {
        let status = match m.get("status") {
            None => None,
            Some(Value::String(s)) => Some(IssueStatus::parse(s)?),
            Some(v) => return Err(wrong("status", "a string", v)),
        };
        let anchor = match m.get("anchor") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v @ Value::Object(_)) => Some(Some(v.clone())),
            Some(v) => return Err(wrong("anchor", "an object", v)),
        };
        Ok(IssueInput {
            description: opt_str(m, "description")?,
            status,
            anchor,
        })
    }
}

/// Parses a comment body `{text}`.
pub fn comment_text(v: Value) -> Result<String> {
    let m = object(v)?;
    let text = req_str(&m, "text")?;
    if text.trim().is_empty() {
        return Err(Error::invalid(
            "invalid_field",
            "Field 'text' may not be empty.",
        ));
    }
    Ok(text)
}

/// Parses a collaborator role field, with `default` when absent.
pub fn role(m: &Map<String, Value>, default: Option<Role>) -> Result<Role> {
    match (m.get("role"), default) {
        (Some(Value::String(s)), _) => Role::parse(s),
        (Some(v), _) => Err(wrong("role", "a string", v)),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(Error::invalid("missing_field", "Field 'role' is required.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn samples_parse_with_defaults() {
        let s = NewSample::parse(json!({"name": "a.png", "attributes": {}})).unwrap();
        assert_eq!(s.attributes, None);
        assert_eq!(s.priority, 0.0);
        assert!(NewSample::parse(json!({"attributes": {}})).is_err());
        assert!(NewSample::parse(json!({"name": 3})).is_err());
        assert!(NewSample::parse(json!([1])).is_err());
        assert!(NewSample::parse(json!({"name": "x", "metadata": []})).is_err());
    }

    #[test]
    fn patch_distinguishes_null_from_absent() {
        let p = SamplePatch::parse(json!({"assigned_labeler": null})).unwrap();
        assert_eq!(p.assigned_labeler, Some(None));
        assert_eq!(p.assigned_reviewer, None);
    }

    #[test]
    fn labels_refuse_unknown_status() {
        assert!(LabelInput::parse(json!({"label_status": "DONE"})).is_err());
        let l =
            LabelInput::parse(json!({"label_status": "LABELED", "attributes": {"a": 1}})).unwrap();
        assert_eq!(l.label_status, Some(LabelStatus::Labeled));
    }

    #[test]
    fn issues_need_a_description() {
        assert!(IssueInput::parse_new(json!({"status": "OPEN"})).is_err());
        assert!(IssueInput::parse_new(json!({"description": "x", "status": "DONE"})).is_err());
        assert!(comment_text(json!({"text": "  "})).is_err());
    }
}
