//! The platform API's request bodies as the segments-ai SDK sends them, and the few answers
//! not in `datahooks_domain::model`. Responses that are domain objects (`Dataset`, `Sample`,
//! `Label`, …) carry their schema on the domain type itself.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use datahooks_domain::model::{Category, IssueStatus, LabelStatus, Role, TaskType};

/// Free-form JSON object.
type Object = Map<String, Value>;

/// The dataset settings a client may set (every field optional; others keep their value or
/// default).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DatasetSettingsIn {
    /// Description.
    pub description: Option<String>,
    /// Task type (also the labels' `label_type`).
    pub task_type: Option<TaskType>,
    /// Categories and attributes of the labeling task.
    #[schema(value_type = Option<Object>)]
    pub task_attributes: Option<Object>,
    /// One of eight categories.
    pub category: Option<Category>,
    /// Visible to everyone.
    pub public: Option<bool>,
    /// Readme (markdown).
    pub readme: Option<String>,
    /// Archived.
    pub archived: Option<bool>,
    /// Free-form metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Object>,
    /// Seconds before an idle labeler's work is released.
    pub labeling_inactivity_timeout_seconds: Option<i64>,
    /// Labelers may skip a sample.
    pub enable_skip_labeling: Option<bool>,
    /// Reviewers may skip a sample.
    pub enable_skip_reviewing: Option<bool>,
    /// Ratings on labels.
    pub enable_ratings: Option<bool>,
}

/// A new dataset: a name plus settings over the defaults.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetIn {
    /// Name, unique per owner (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Settings.
    #[serde(flatten)]
    pub settings: DatasetSettingsIn,
}

/// `POST …/clone/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetCloneIn {
    /// Name of the clone (default: `<name>-clone`).
    pub name: Option<String>,
    /// Account that owns the clone (default: the caller).
    pub owner: Option<String>,
    /// Copy the labels too.
    pub clone_labels: Option<bool>,
}

/// `POST …/collaborators/` and `PATCH …/collaborators/{user}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollaboratorIn {
    /// The user (POST only).
    pub user: Option<String>,
    /// Their role (default `labeler`).
    pub role: Option<Role>,
}

/// A new labelset.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelsetIn {
    /// Name, unique per dataset.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// A new sample (`POST …/samples/`; `samples_bulk` takes an array of them).
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleIn {
    /// Name, unique per dataset.
    pub name: String,
    /// Attributes (image URL, frames, …).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Object>,
    /// Free-form metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Object>,
    /// Queue priority (higher first; default 0).
    pub priority: Option<f64>,
    /// Readme.
    pub readme: Option<String>,
    /// Pinned labeler.
    pub assigned_labeler: Option<String>,
    /// Pinned reviewer.
    pub assigned_reviewer: Option<String>,
}

/// `PATCH /samples/{uuid}/`: the fields to change.
#[derive(Debug, Serialize, ToSchema)]
pub struct SamplePatchIn {
    /// New name.
    pub name: Option<String>,
    /// Attributes (`{}` or `null` clears them).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Object>,
    /// Metadata (replaces the old).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Object>,
    /// Queue priority.
    pub priority: Option<f64>,
    /// Readme.
    pub readme: Option<String>,
    /// Pinned labeler (`null` unpins).
    pub assigned_labeler: Option<String>,
    /// Pinned reviewer (`null` unpins).
    pub assigned_reviewer: Option<String>,
}

/// `DELETE …/samples_bulk/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SamplesDeleteIn {
    /// 1 to 1000 sample uuids.
    pub uuids: Vec<String>,
}

/// How many samples a bulk delete removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedCount {
    /// Samples deleted.
    pub deleted_count: u64,
}

/// `PUT` / `PATCH /labels/{uuid}/{labelset}/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelIn {
    /// Label attributes (task-type specific).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Object>,
    /// Workflow status (default `PRELABELED` on PUT).
    pub label_status: Option<LabelStatus>,
    /// Model confidence.
    pub score: Option<f64>,
}

/// A new issue, or an issue's changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueIn {
    /// What is wrong (required on POST).
    pub description: Option<String>,
    /// Open or closed.
    pub status: Option<IssueStatus>,
    /// Where in the sample.
    #[schema(value_type = Option<Object>)]
    pub anchor: Option<Object>,
}

/// A reply on an issue.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentIn {
    /// The reply (not blank).
    pub text: String,
}

/// A new release.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseIn {
    /// Name, unique per dataset.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// `GET /api_status/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiStatus {
    /// Always `ok`.
    pub status: String,
}

/// `POST /assets/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetIn {
    /// The file's name.
    pub filename: String,
}

/// Where and how to upload an asset (S3 presigned-POST style).
#[derive(Debug, Serialize, ToSchema)]
pub struct PresignedPostFields {
    /// POST the file here as multipart form data.
    pub url: String,
    /// Form fields to send with the file.
    #[schema(value_type = Object)]
    pub fields: Value,
}

/// A registered asset and how to upload it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetOut {
    /// Asset id.
    pub uuid: String,
    /// The file's name.
    pub filename: String,
    /// Where it will be served.
    pub url: String,
    /// RFC 3339.
    pub created_at: String,
    /// Upload form.
    #[serde(rename = "presignedPostFields")]
    pub presigned_post_fields: PresignedPostFields,
}
