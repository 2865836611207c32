//! The store: one [`Store`] trait for everything datahooks keeps, and its backends.
//!
//! Methods are shaped by use case. Every method that changes the platform also writes the
//! change's webhook event (and, when the owner has webhooks enabled, its message and
//! deliveries) **in the same transaction**: the transactional outbox. No transaction handle
//! ever crosses the trait.

pub mod apps;
mod both;
pub mod charts;
pub mod error;
pub mod event_types;
mod handoff;
pub mod jobs;
mod keys;
pub mod lifecycle;
mod migrations;
pub mod nodes;
pub mod ops;
pub mod opwh;
pub mod portal;
pub mod postgres;
pub mod sessions;
pub mod setup;
mod shared;
mod sql;
pub mod sqlite;
pub mod stream;
pub mod trace;
pub mod types;
pub mod webhooks;
pub mod window_stats;

use async_trait::async_trait;
use serde_json::{Map, Value};

use datahooks_domain::access::Access;
use datahooks_domain::inputs::{IssueInput, LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{
    Asset, Collaborator, Dataset, Issue, Label, Labelset, Release, Role, Sample, User,
};
use datahooks_domain::settings::DatasetSettings;

pub use apps::{AppSettings, AppStore, AttemptStats};
pub use charts::ChartStore;
pub use error::{Error, Result};
pub use event_types::{CustomEventType, EventTypeStore};
pub use jobs::JobStore;
pub use lifecycle::LifecycleStore;
pub use nodes::NodeStore;
pub use ops::OpsStore;
pub use opwh::OpWebhookStore;
pub use portal::{NewPortalToken, PortalSignIn, PortalStore};
pub use sessions::{NewWebSession, WebSession};
pub use setup::SetupStore;
pub use stream::StreamStore;
pub use types::*;
pub use webhooks::{EndpointStore, WebhookStore};
pub use window_stats::WindowStatsStore;

/// Whether an account storing `others` bytes may add a file of `size` under `quota`.
pub fn within_quota(others: i64, size: i64, quota: i64) -> bool {
    others.saturating_add(size) <= quota
}

/// Opens the store a URL names: `sqlite://PATH` (or a bare path), or `postgres://…` /
/// `postgresql://…`. The schema is migrated.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(std::sync::Arc::new(sqlite::SqliteStore::open(path).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?));
    }
    if url.contains("://") {
        return Err(Error::Unsupported(format!(
            "unknown database URL scheme in {url:?}; use sqlite://PATH or postgres://…"
        )));
    }
    Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
}

/// Everything datahooks keeps. See the crate docs for the transaction rule.
#[async_trait]
pub trait Store:
    WebhookStore
    + EndpointStore
    + SetupStore
    + OpsStore
    + ChartStore
    + StreamStore
    + AppStore
    + OpWebhookStore
    + JobStore
    + EventTypeStore
    + PortalStore
    + WindowStatsStore
    + LifecycleStore
    + NodeStore
    + Send
    + Sync
    + 'static
{
    // ---- accounts and keys -------------------------------------------------------------

    /// Creates a user and its first API key.
    async fn create_user(&self, name: &str, email: Option<&str>) -> Result<(Account, NewApiKey)>;
    /// Creates an organization with `owner` as its first admin.
    async fn create_org(&self, name: &str, owner: &str) -> Result<Account>;
    /// Adds (or changes the role of) a member of an organization.
    async fn add_org_member(&self, org: &str, user: &str, role: Role) -> Result<()>;
    /// Creates another API key for a user.
    async fn create_api_key(&self, user: &str) -> Result<NewApiKey>;
    /// Revokes a key by its id.
    async fn revoke_api_key(&self, key_id: &str) -> Result<()>;
    /// The user a (non-revoked) key belongs to.
    async fn authenticate(&self, key: &str) -> Result<Option<Account>>;
    /// An account by name.
    async fn account(&self, name: &str) -> Result<Account>;
    /// The API view of an account; with `with_orgs`, its organizations and roles.
    async fn user_view(&self, name: &str, with_orgs: bool) -> Result<User>;
    /// A user's role in an organization.
    async fn org_role(&self, org_id: i64, user_id: i64) -> Result<Option<Role>>;
    /// Accounts whose webhooks `user_id` manages: itself and organizations it administers.
    async fn managed_accounts(&self, user_id: i64) -> Result<Vec<Account>>;
    /// Turns an account's webhooks on or off.
    async fn set_webhooks_enabled(&self, account_id: i64, enabled: bool) -> Result<Account>;

    // ---- web sessions (see [`sessions`]) -------------------------------------------------

    /// Opens a web session for the user `key` authenticates, bound to that key: revoking the
    /// key ends the session. Sessions already expired are swept in the same transaction.
    /// `None` when the key is not valid (nothing is written then).
    async fn open_web_session(&self, key: &str, new: NewWebSession<'_>) -> Result<Option<Account>>;
    /// The live session a cookie token names: not ended, not expired at `now_ms`, its key not
    /// revoked and its user still there.
    async fn web_session(&self, token: &str, now_ms: i64) -> Result<Option<WebSession>>;
    /// Ends a session (signing out); ending one that is already gone is not an error.
    async fn end_web_session(&self, token: &str) -> Result<()>;
    /// Deletes a user with its keys, memberships, collaborations (each with its
    /// `dataset.updated`), web sessions and webhook set-up. Refused while the user still owns
    /// datasets or assets.
    async fn delete_user(&self, name: &str) -> Result<()>;

    // ---- datasets ------------------------------------------------------------------------

    /// Finds `owner/name` and what `caller` may do to it (`NotFound` if it does not exist).
    async fn dataset_access(
        &self,
        caller: i64,
        owner: &str,
        name: &str,
    ) -> Result<(DatasetRef, Access)>;
    /// The datasets of `owner` that `caller` may see, by name.
    async fn list_datasets(&self, caller: i64, owner: &str, page: Page) -> Result<Vec<Dataset>>;
    /// The API view of a dataset for a caller with `access`.
    async fn get_dataset(&self, ds: &DatasetRef, access: Access) -> Result<Dataset>;
    /// Creates a dataset (`dataset.created`).
    async fn create_dataset(
        &self,
        owner_id: i64,
        name: &str,
        settings: DatasetSettings,
    ) -> Result<Dataset>;
    /// Changes settings (`dataset.updated`).
    async fn update_dataset(&self, ds: &DatasetRef, patch: Map<String, Value>) -> Result<Dataset>;
    /// Deletes a dataset and all it holds (`dataset.deleted` only).
    async fn delete_dataset(&self, ds: &DatasetRef) -> Result<()>;
    /// Clones a dataset (`dataset.created`, then `sample.created` per sample, and
    /// `label.updated` per label when `clone_labels`).
    async fn clone_dataset(&self, src: &DatasetRef, spec: CloneSpec) -> Result<Dataset>;

    // ---- collaborators ---------------------------------------------------------------

    /// One collaborator.
    async fn get_collaborator(&self, ds: &DatasetRef, user: &str) -> Result<Collaborator>;
    /// Adds a collaborator (`dataset.updated`).
    async fn add_collaborator(
        &self,
        ds: &DatasetRef,
        user: &str,
        role: Role,
    ) -> Result<Collaborator>;
    /// Changes a collaborator's role (`dataset.updated`).
    async fn update_collaborator(
        &self,
        ds: &DatasetRef,
        user: &str,
        role: Role,
    ) -> Result<Collaborator>;
    /// Removes a collaborator (`dataset.updated`).
    async fn delete_collaborator(&self, ds: &DatasetRef, user: &str) -> Result<()>;

    // ---- labelsets -------------------------------------------------------------------

    /// All labelsets, ground-truth first.
    async fn list_labelsets(&self, ds: &DatasetRef) -> Result<Vec<Labelset>>;
    /// One labelset.
    async fn get_labelset(&self, ds: &DatasetRef, name: &str) -> Result<Labelset>;
    /// Adds a labelset (`dataset.updated`).
    async fn add_labelset(
        &self,
        ds: &DatasetRef,
        name: &str,
        description: &str,
    ) -> Result<Labelset>;
    /// Deletes a labelset and its labels (`dataset.updated`).
    async fn delete_labelset(&self, ds: &DatasetRef, name: &str) -> Result<()>;

    // ---- samples ---------------------------------------------------------------------

    /// Samples matching a query, one page.
    async fn list_samples(&self, ds: &DatasetRef, q: &SampleQuery) -> Result<Vec<Sample>>;
    /// Finds a sample by id and what `caller` may do to it.
    async fn sample_access(&self, caller: i64, uuid: &str) -> Result<(SampleRef, Access)>;
    /// A sample, with its label in `labelset` when given.
    async fn get_sample(&self, s: &SampleRef, labelset: Option<&str>) -> Result<Sample>;
    /// Adds samples (`sample.created` each). With `skip_existing`, names already present are
    /// returned unchanged; otherwise a duplicate name fails the whole call.
    async fn create_samples(
        &self,
        ds: &DatasetRef,
        samples: Vec<NewSample>,
        actor: &str,
        skip_existing: bool,
    ) -> Result<Vec<Sample>>;
    /// Changes a sample (`sample.updated`).
    async fn update_sample(&self, s: &SampleRef, patch: SamplePatch) -> Result<Sample>;
    /// Deletes samples of a dataset by id, skipping unknown ids (`sample.deleted` each).
    async fn delete_samples(&self, ds: &DatasetRef, uuids: &[String]) -> Result<u64>;

    // ---- labels ----------------------------------------------------------------------

    /// A sample's label in a labelset.
    async fn get_label(&self, s: &SampleRef, labelset: &str) -> Result<Label>;
    /// Creates or changes a label (`label.updated`). `replace` is PUT semantics.
    async fn put_label(
        &self,
        s: &SampleRef,
        labelset: &str,
        input: LabelInput,
        replace: bool,
        actor: &str,
    ) -> Result<Label>;
    /// Deletes a label (`label.deleted`).
    async fn delete_label(&self, s: &SampleRef, labelset: &str) -> Result<()>;

    // ---- issues ----------------------------------------------------------------------

    /// Issues of a dataset, newest first.
    async fn list_issues(&self, ds: &DatasetRef) -> Result<Vec<Issue>>;
    /// Finds an issue and what `caller` may do to it.
    async fn issue_access(&self, caller: i64, uuid: &str) -> Result<(IssueRef, Access)>;
    /// One issue.
    async fn get_issue(&self, i: &IssueRef) -> Result<Issue>;
    /// Raises an issue on a sample (`issue.created`).
    async fn create_issue(&self, s: &SampleRef, input: IssueInput, actor: &str) -> Result<Issue>;
    /// Changes an issue (`issue.updated`).
    async fn update_issue(&self, i: &IssueRef, input: IssueInput, actor: &str) -> Result<Issue>;
    /// Replies to an issue (`issue.updated`).
    async fn add_comment(&self, i: &IssueRef, text: &str, actor: &str) -> Result<Issue>;
    /// Deletes an issue (no event: there is no `issue.deleted`).
    async fn delete_issue(&self, i: &IssueRef) -> Result<()>;

    // ---- releases --------------------------------------------------------------------

    /// Releases of a dataset, newest first.
    async fn list_releases(&self, ds: &DatasetRef) -> Result<Vec<Release>>;
    /// One release by name.
    async fn get_release(&self, ds: &DatasetRef, name: &str) -> Result<Release>;
    /// Requests a release (PENDING; no event yet).
    async fn create_release(
        &self,
        ds: &DatasetRef,
        name: &str,
        description: &str,
    ) -> Result<Release>;
    /// Deletes a release.
    async fn delete_release(&self, ds: &DatasetRef, name: &str) -> Result<()>;
    /// Ids of releases still PENDING (to build after a restart, too).
    async fn pending_releases(&self) -> Result<Vec<String>>;
    /// Builds a PENDING release's file from the dataset as it is now, stores it under the
    /// unguessable `token`, marks it SUCCEEDED with `url` and writes `release.created`, in one
    /// transaction. Returns `None` when the release no longer exists or is not pending.
    async fn build_release(&self, uuid: &str, token: &str, url: &str) -> Result<Option<Release>>;
    /// Marks a PENDING release FAILED.
    async fn fail_release(&self, uuid: &str) -> Result<()>;
    /// A built release file by token: its name and JSON.
    async fn release_file(&self, token: &str) -> Result<(String, String)>;

    // ---- assets ----------------------------------------------------------------------

    /// Registers an asset to be uploaded.
    async fn create_asset(&self, owner_id: i64, filename: &str) -> Result<Asset>;
    /// One asset.
    async fn asset(&self, uuid: &str) -> Result<Asset>;
    /// Bytes the asset's owner stores in its other uploaded assets.
    async fn asset_others_size(&self, uuid: &str) -> Result<i64>;
    /// Records the size of the asset's uploaded file, unless the owner's assets would then
    /// hold more than `quota` bytes (then nothing changes and the answer is `false`).
    async fn record_asset_size(&self, uuid: &str, size: i64, quota: i64) -> Result<bool>;

    // ---- events ----------------------------------------------------------------------

    /// Committed events with `seq > after`, in commit order, at most `limit`.
    async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>>;
}
