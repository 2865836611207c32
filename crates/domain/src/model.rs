//! The platform's objects exactly as the REST API (and so the webhook `object`) shows them.
//!
//! The field sets follow what the `segments-ai` SDK validates (see `shared/spec/segments-api.md`
//! §3): required fields are always present, "omit-or-valid" fields are never `null`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[doc = concat!("`", $text, "`")] #[serde(rename = $text)] $variant),+ }

        // Written out rather than derived: the derive cannot see the wire texts through the
        // macro and would document the variant names instead.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire text of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the wire text, with an error that lists the allowed values.
            pub fn parse(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::invalid(
                        "invalid_enum",
                        format!(
                            "{:?} is not a valid {}; expected one of: {}.",
                            s,
                            stringify!($name),
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A collaborator's or organization member's role.
    Role { Labeler = "labeler", Reviewer = "reviewer", Manager = "manager", Admin = "admin" }
);

string_enum!(
    /// The status of a label in the labeling workflow.
    LabelStatus {
        Reviewed = "REVIEWED",
        ReviewingInProgress = "REVIEWING_IN_PROGRESS",
        Labeled = "LABELED",
        LabelingInProgress = "LABELING_IN_PROGRESS",
        Rejected = "REJECTED",
        Prelabeled = "PRELABELED",
        Skipped = "SKIPPED",
        Verified = "VERIFIED",
        Unlabeled = "UNLABELED",
    }
);

string_enum!(
    /// Whether an issue still needs attention.
    IssueStatus { Open = "OPEN", Closed = "CLOSED" }
);

string_enum!(
    /// A release's build state.
    ReleaseStatus { Pending = "PENDING", Succeeded = "SUCCEEDED", Failed = "FAILED" }
);

string_enum!(
    /// A dataset's category (the SDK accepts only these eight).
    Category {
        StreetScenery = "street_scenery",
        Garden = "garden",
        Agriculture = "agriculture",
        Satellite = "satellite",
        People = "people",
        Medical = "medical",
        Fruit = "fruit",
        Other = "other",
    }
);

string_enum!(
    /// A dataset's task type, which is also its labels' `label_type`.
    TaskType {
        SegmentationBitmap = "segmentation-bitmap",
        SegmentationBitmapHighres = "segmentation-bitmap-highres",
        ImageSegmentationSequence = "image-segmentation-sequence",
        Bboxes = "bboxes",
        Vector = "vector",
        ImageVectorSequence = "image-vector-sequence",
        Keypoints = "keypoints",
        PointcloudCuboid = "pointcloud-cuboid",
        PointcloudCuboidSequence = "pointcloud-cuboid-sequence",
        PointcloudSegmentation = "pointcloud-segmentation",
        PointcloudSegmentationSequence = "pointcloud-segmentation-sequence",
        PointcloudVector = "pointcloud-vector",
        PointcloudVectorSequence = "pointcloud-vector-sequence",
        MultisensorSequence = "multisensor-sequence",
        Empty = "",
    }
);

/// The ground-truth labelset every dataset has.
pub const GROUND_TRUTH: &str = "ground-truth";

/// A user or organization as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Account name.
    pub username: String,
    /// E-mail address, if known.
    pub email: Option<String>,
    /// When the account was created.
    pub created_at: String,
    /// Whether this is an organization.
    pub is_organization: bool,
    /// Whether the account has enabled webhooks.
    pub webhooks_enabled: bool,
    /// Organizations the user belongs to (only on `/user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    // A user lists users: refer to the schema instead of collecting it again, forever.
    #[schema(no_recursion)]
    pub organizations: Option<Vec<User>>,
    /// The caller's role in this organization, when listed as one of its organizations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_role: Option<Role>,
}

/// A dataset's owner, as embedded in a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Owner {
    /// Account name.
    pub username: String,
    /// When the account was created.
    pub created_at: String,
    /// E-mail address, if known.
    pub email: Option<String>,
}

/// A dataset: its identity plus its settings (flattened) plus derived counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dataset {
    /// Dataset name (unique per owner).
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// The owning account.
    pub owner: Owner,
    /// When it was created.
    pub created_at: String,
    /// `owner/name` of the dataset this was cloned from.
    pub cloned_from: Option<String>,
    /// Number of samples.
    pub samples_count: i64,
    /// Number of collaborators.
    pub collaborators_count: i64,
    /// Counts of labels by status in the ground-truth labelset, plus `TOTAL`.
    pub label_stats: Map<String, Value>,
    /// The dataset's labelsets.
    pub labelsets: Vec<Labelset>,
    /// The caller's role, when the caller is known.
    pub role: Option<String>,
    /// Everything a client can set.
    #[serde(flatten)]
    pub settings: crate::settings::DatasetSettings,
}

impl Dataset {
    /// Label stats from `(status, count)` pairs and the number of samples: unlabeled samples
    /// count as `UNLABELED`, and `TOTAL` is the number of samples.
    pub fn label_stats(counts: &[(LabelStatus, i64)], samples: i64) -> Map<String, Value> {
        let mut stats = Map::new();
        let mut labeled = 0;
        for status in LabelStatus::ALL {
            let n = counts
                .iter()
                .filter(|(s, _)| s == status)
                .map(|(_, n)| *n)
                .sum::<i64>();
            labeled += n;
            stats.insert(status.as_str().to_owned(), Value::from(n));
        }
        let unlabeled = (samples - labeled).max(0);
        stats.insert("UNLABELED".to_owned(), Value::from(unlabeled));
        stats.insert("TOTAL".to_owned(), Value::from(samples));
        stats
    }
}

/// A labelset of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Labelset {
    /// Labelset name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Whether this is the ground-truth labelset.
    pub is_groundtruth: bool,
    /// When it was created.
    pub created_at: String,
}

/// A collaborator of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Collaborator {
    /// The collaborating user.
    pub user: User,
    /// Their role on the dataset.
    pub role: Role,
}

/// A sample. `label` and `issues` appear only where the API includes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sample {
    /// Sample id.
    pub uuid: String,
    /// Sample name (unique per dataset).
    pub name: String,
    /// Sample attributes (`null` rather than `{}`: the SDK rejects an empty object).
    pub attributes: Option<Value>,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
    /// When it was created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it last changed.
    pub updated_at: String,
    /// Queue priority (higher first).
    pub priority: f64,
    /// Pinned labeler.
    pub assigned_labeler: Option<String>,
    /// Pinned reviewer.
    pub assigned_reviewer: Option<String>,
    /// Readme text.
    pub readme: String,
    /// `owner/name` of its dataset.
    pub dataset_full_name: String,
    /// Same as `dataset_full_name` (the raw API's name for it).
    pub dataset: String,
    /// The label in the requested labelset (full, or a summary in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Value>,
}

/// A label of a sample in one labelset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Label {
    /// The labeled sample.
    pub sample_uuid: String,
    /// The dataset's task type.
    pub label_type: TaskType,
    /// Workflow status.
    pub label_status: LabelStatus,
    /// Labelset name.
    pub labelset: String,
    /// Label attributes (`null` rather than `{}`).
    pub attributes: Option<Value>,
    /// Model confidence, if any.
    pub score: Option<f64>,
    /// Rating, if any.
    pub rating: Option<f64>,
    /// When it was created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it last changed.
    pub updated_at: String,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// When it was reviewed.
    pub reviewed_at: Option<String>,
    /// Who reviewed it.
    pub reviewed_by: Option<String>,
    /// The sample's name (for readable events).
    pub sample_name: String,
}

impl Label {
    /// The short form used in sample lists (`LabelSummary`).
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "label_status": self.label_status,
            "score": self.score,
            "updated_at": self.updated_at,
            "created_by": self.created_by,
            "reviewed_by": self.reviewed_by,
        })
    }
}

/// A reply on an issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comment {
    /// When it was written.
    pub created_at: String,
    /// Who wrote it.
    pub created_by: String,
    /// The reply.
    pub text: String,
}

/// An issue raised on a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Issue {
    /// Issue id.
    pub uuid: String,
    /// What is wrong.
    pub description: String,
    /// When it was raised.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Who raised it.
    pub created_by: String,
    /// Who changed it last.
    pub updated_by: String,
    /// Open or closed.
    pub status: IssueStatus,
    /// Replies, oldest first.
    pub comments: Vec<Comment>,
    /// The sample it is about.
    pub sample_uuid: String,
    /// That sample's name.
    pub sample_name: String,
    /// Where in the sample, if anchored.
    pub anchor: Option<Value>,
    /// `owner/name` of the dataset.
    pub dataset: String,
}

/// A release (frozen export) of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Release {
    /// Release id.
    pub uuid: String,
    /// Release name (unique per dataset).
    pub name: String,
    /// Description.
    pub description: String,
    /// Always `JSON`.
    pub release_type: String,
    /// `{url}` once built, `{}` before.
    pub attributes: Map<String, Value>,
    /// Build state.
    pub status: ReleaseStatus,
    /// When it was requested.
    pub created_at: String,
    /// Samples in the release.
    pub samples_count: i64,
}

/// An uploaded (or to-be-uploaded) asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Asset {
    /// Asset id.
    pub uuid: String,
    /// Original file name.
    pub filename: String,
    /// When it was registered.
    pub created_at: String,
    /// The account that registered it.
    pub owner: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_refuse_unknown() {
        assert_eq!(Role::parse("admin").unwrap(), Role::Admin);
        assert!(Role::parse("viewer").is_err());
        assert_eq!(TaskType::parse("bboxes").unwrap(), TaskType::Bboxes);
        assert!(TaskType::parse("bbox").is_err());
        assert_eq!(
            serde_json::to_value(LabelStatus::Prelabeled).unwrap(),
            "PRELABELED"
        );
        let msg = Category::parse("custom-x").unwrap_err().to_string();
        assert!(msg.contains("street_scenery"), "{msg}");
    }

    #[test]
    fn label_stats_count_unlabeled() {
        let s = Dataset::label_stats(&[(LabelStatus::Labeled, 2)], 5);
        assert_eq!(s["LABELED"], 2);
        assert_eq!(s["UNLABELED"], 3);
        assert_eq!(s["TOTAL"], 5);
    }
}
