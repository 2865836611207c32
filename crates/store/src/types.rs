//! Values the store hands out and takes in, besides the domain's API shapes.

use datahooks_domain::model::{LabelStatus, Role, TaskType};
use serde_json::{Map, Value};

/// A user or organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Internal id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Organization rather than user.
    pub is_org: bool,
    /// E-mail address.
    pub email: Option<String>,
    /// Creation time (API format).
    pub created_at: String,
    /// Whether webhooks are enabled (the account's webhook application exists).
    pub webhooks_enabled: bool,
}

/// An API key as created: the only time its secret is seen.
#[derive(Clone, PartialEq)]
pub struct NewApiKey {
    /// Public id (for revoking).
    pub id: String,
    /// The full key to put in `Authorization`.
    pub key: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A dataset found by name, enough to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRef {
    /// Internal id.
    pub id: i64,
    /// Owning account id.
    pub owner_id: i64,
    /// Owning account name.
    pub owner: String,
    /// Dataset name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Public or private.
    pub public: bool,
    /// Its task type.
    pub task_type: TaskType,
}

/// A sample found by id, with its dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRef {
    /// Sample id.
    pub uuid: String,
    /// Sample name.
    pub name: String,
    /// Its dataset.
    pub dataset: DatasetRef,
}

/// An issue found by id, with its dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueRef {
    /// Issue id.
    pub uuid: String,
    /// Who raised it.
    pub created_by: String,
    /// Its dataset.
    pub dataset: DatasetRef,
}

/// A page of a list: 1-based `page` of `per_page` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: i64,
    /// Items per page.
    pub per_page: i64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            page: 1,
            per_page: 1000,
        }
    }
}

impl Page {
    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
}

/// What samples may be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSort {
    /// Name.
    Name,
    /// Creation time.
    CreatedAt,
    /// Priority.
    Priority,
    /// Last change.
    UpdatedAt,
    /// Last change of the ground-truth label.
    GtLabelUpdatedAt,
}

/// A sample list query (`get_samples`).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleQuery {
    /// Which page.
    pub page: Page,
    /// Labelset whose labels filter and are included.
    pub labelset: String,
    /// Include the label: `Some(true)` full, `Some(false)` summary, `None` none.
    pub include_label: Option<bool>,
    /// Substring of the name.
    pub name_contains: Option<String>,
    /// Metadata equalities (all must hold).
    pub metadata: Vec<(String, String)>,
    /// Label status in `labelset` (`UNLABELED` = no label).
    pub label_status: Vec<LabelStatus>,
    /// Sort key.
    pub sort: SampleSort,
    /// Descending.
    pub descending: bool,
}

/// How to clone a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneSpec {
    /// Account that will own the clone.
    pub owner_id: i64,
    /// Name of the clone.
    pub name: String,
    /// Settings to override (`task_type`, `public`).
    pub overrides: Map<String, Value>,
    /// Copy labels too.
    pub clone_labels: bool,
    /// Who clones (becomes `created_by` of copied samples).
    pub actor: String,
}

/// An event as committed to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Commit order.
    pub seq: i64,
    /// Message id (`msg_…`), also the `webhook-id` of its deliveries.
    pub id: String,
    /// The exact payload JSON.
    pub payload: String,
}

/// A role parsed from the store.
pub(crate) fn parse_role(s: &str) -> Option<Role> {
    Role::parse(s).ok()
}
