//! Dataset settings: everything a client may set on a dataset, with the SDK's defaults, and the
//! one rule for applying a create or a partial update (overlay the given keys, then re-check).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::model::{Category, TaskType};
use crate::{Error, Result};

/// The settable part of a dataset. Field names are the API's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetSettings {
    /// Description.
    pub description: String,
    /// Task type (also the label type).
    pub task_type: TaskType,
    /// Categories and attributes.
    pub task_attributes: Option<Value>,
    /// Category.
    pub category: Category,
    /// Visible to everyone.
    pub public: bool,
    /// Readme (markdown).
    pub readme: String,
    /// Archived datasets stay readable.
    pub archived: bool,
    /// Seconds of inactivity before a labeling session pauses.
    pub labeling_inactivity_timeout_seconds: Option<i64>,
    #[allow(missing_docs)]
    pub enable_skip_labeling: bool,
    #[allow(missing_docs)]
    pub enable_skip_reviewing: bool,
    #[allow(missing_docs)]
    pub enable_ratings: bool,
    #[allow(missing_docs)]
    pub enable_interpolation: bool,
    #[allow(missing_docs)]
    pub use_timestamps_for_interpolation: bool,
    #[allow(missing_docs)]
    pub enable_same_dimensions_track_constraint: bool,
    #[allow(missing_docs)]
    pub enable_save_button: bool,
    #[allow(missing_docs)]
    pub enable_label_status_verified: bool,
    #[allow(missing_docs)]
    pub enable_3d_cuboid_rotation: bool,
    #[allow(missing_docs)]
    pub enable_3d_region_of_interest: bool,
    #[allow(missing_docs)]
    pub enable_confirm_on_submit: bool,
    #[allow(missing_docs)]
    pub enable_object_linking: bool,
    #[allow(missing_docs)]
    pub enable_object_link_category_restrictions: bool,
    #[allow(missing_docs)]
    pub enable_extrapolation: bool,
    #[allow(missing_docs)]
    pub noncollaborator_can_label: bool,
    #[allow(missing_docs)]
    pub noncollaborator_can_review: bool,
    /// Region of interest (3D).
    pub region_of_interest: Option<Value>,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
}

/// Keys of [`DatasetSettings`] a request may set; any other key is ignored (the SDK sends
/// `data_type` and friends that mean nothing here).
const SETTABLE: &[&str] = &[
    "description",
    "task_type",
    "task_attributes",
    "category",
    "public",
    "readme",
    "archived",
    "labeling_inactivity_timeout_seconds",
    "enable_skip_labeling",
    "enable_skip_reviewing",
    "enable_ratings",
    "enable_interpolation",
    "use_timestamps_for_interpolation",
    "enable_same_dimensions_track_constraint",
    "enable_save_button",
    "enable_label_status_verified",
    "enable_3d_cuboid_rotation",
    "enable_3d_region_of_interest",
    "enable_confirm_on_submit",
    "enable_object_linking",
    "enable_object_link_category_restrictions",
    "enable_extrapolation",
    "noncollaborator_can_label",
    "noncollaborator_can_review",
    "region_of_interest",
    "metadata",
];

impl Default for DatasetSettings {
    fn default() -> Self {
        DatasetSettings {
            description: String::new(),
            task_type: TaskType::SegmentationBitmap,
            task_attributes: Some(json!({
                "format_version": "0.1",
                "categories": [{"id": 1, "name": "object"}]
            })),
            category: Category::Other,
            public: false,
            readme: String::new(),
            archived: false,
            labeling_inactivity_timeout_seconds: Some(300),
            enable_skip_labeling: true,
            enable_skip_reviewing: false,
            enable_ratings: false,
            enable_interpolation: true,
            use_timestamps_for_interpolation: true,
            enable_same_dimensions_track_constraint: false,
            enable_save_button: false,
            enable_label_status_verified: false,
            enable_3d_cuboid_rotation: false,
            enable_3d_region_of_interest: false,
            enable_confirm_on_submit: false,
            enable_object_linking: false,
            enable_object_link_category_restrictions: false,
            enable_extrapolation: false,
            noncollaborator_can_label: false,
            noncollaborator_can_review: false,
            region_of_interest: None,
            metadata: Map::new(),
        }
    }
}

impl DatasetSettings {
    /// Returns these settings with the settable keys of `patch` applied. Each value must have
    /// the field's type (`null` only where the field is optional) and enums must be known.
    pub fn patched(&self, patch: &Map<String, Value>) -> Result<Self> {
        let mut current = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(Error::invalid(
                    "invalid_settings",
                    "settings are not an object",
                ))
            }
        };
        for (key, value) in patch {
            if !SETTABLE.contains(&key.as_str()) {
                continue;
            }
            check_field(key, value)?;
            current.insert(key.clone(), value.clone());
        }
        serde_json::from_value(Value::Object(current))
            .map_err(|e| Error::invalid("invalid_field", format!("Invalid dataset settings: {e}.")))
    }

    /// Whether `key` is a setting a request may change.
    pub fn is_settable(key: &str) -> bool {
        SETTABLE.contains(&key)
    }
}

/// Per-field checks that give a clearer message than serde's (which field, what was expected).
fn check_field(key: &str, value: &Value) -> Result<()> {
    let bad = |expected: &str| {
        Err(Error::invalid(
            "invalid_field",
            format!("Field '{key}' must be {expected}."),
        ))
    };
    match key {
        "task_type" => match value.as_str() {
            Some(s) => TaskType::parse(s).map(|_| ()),
            None => bad("a string"),
        },
        "category" => match value.as_str() {
            Some(s) => Category::parse(s).map(|_| ()),
            None => bad("a string"),
        },
        "description" | "readme" => match value {
            Value::String(_) => Ok(()),
            _ => bad("a string"),
        },
        "metadata" => match value {
            Value::Object(_) => Ok(()),
            _ => bad("an object"),
        },
        "task_attributes" => match value {
            Value::Object(_) | Value::Null => Ok(()),
            _ => bad("an object or null"),
        },
        "labeling_inactivity_timeout_seconds" => match value {
            Value::Null => Ok(()),
            Value::Number(n) if n.as_i64().is_some_and(|n| n >= 0) => Ok(()),
            _ => bad("a non-negative integer or null"),
        },
        "region_of_interest" => Ok(()),
        _ => match value {
            Value::Bool(_) => Ok(()),
            _ => bad("true or false"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn patch_overlays_known_keys_and_ignores_others() {
        let s = DatasetSettings::default()
            .patched(&obj(
                json!({"description": "d", "public": true, "data_type": "IMAGE"}),
            ))
            .unwrap();
        assert_eq!(s.description, "d");
        assert!(s.public);
    }

    #[test]
    fn patch_refuses_wrong_types_and_enums() {
        let base = DatasetSettings::default();
        for bad in [
            json!({"public": "yes"}),
            json!({"task_type": "bbox"}),
            json!({"category": "custom-x"}),
            json!({"metadata": []}),
            json!({"description": null}),
            json!({"labeling_inactivity_timeout_seconds": -1}),
        ] {
            assert!(base.patched(&obj(bad.clone())).is_err(), "{bad} accepted");
        }
    }
}
