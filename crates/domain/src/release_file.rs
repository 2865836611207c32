//! The release file (the docs' "Structure of the release file"): the dataset, its labelsets
//! and every sample with its label in each labelset (`null` when unlabeled). Both store
//! backends gather the data; the shape is decided here once.

use serde_json::{json, Map, Value};

use crate::model::{Dataset, Label, Labelset, Release, Sample};

/// One sample of the file, with its label (or `None`) in each labelset, in labelset order.
pub fn sample_entry(s: &Sample, labels: &[(String, Option<Label>)]) -> Value {
    let mut by_set = Map::new();
    for (set, label) in labels {
        let entry = label.as_ref().map(|l| {
            json!({
                "label_status": l.label_status,
                "attributes": l.attributes,
                "score": l.score,
                "created_at": l.created_at,
                "created_by": l.created_by,
                "updated_at": l.updated_at,
                "reviewed_at": l.reviewed_at,
                "reviewed_by": l.reviewed_by,
            })
        });
        by_set.insert(set.clone(), entry.unwrap_or(Value::Null));
    }
    json!({
        "uuid": s.uuid,
        "name": s.name,
        "attributes": s.attributes,
        "metadata": s.metadata,
        "created_at": s.created_at,
        "created_by": s.created_by,
        "priority": s.priority,
        "labels": by_set,
    })
}

/// The whole file. `dataset.owner` is a plain username: readers build `owner_name` paths from it.
pub fn file(
    release: &Release,
    dataset: &Dataset,
    labelsets: &[Labelset],
    samples: Vec<Value>,
) -> Value {
    json!({
        "name": release.name,
        "description": release.description,
        "created_at": release.created_at,
        "dataset": {
            "name": dataset.name,
            "owner": dataset.owner.username,
            "task_type": dataset.settings.task_type,
            "task_attributes": dataset.settings.task_attributes,
            "labelsets": labelsets.iter().map(|l| json!({"name": l.name, "description": l.description})).collect::<Vec<_>>(),
            "samples": samples,
        }
    })
}
