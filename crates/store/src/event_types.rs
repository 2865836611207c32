//! Custom event types (beyond the 11 platform events) of an account, as the Svix event-type
//! API keeps them. The rules (names, what a patch changes, which types a message may name) are
//! `datahooks_domain::event_types`; the SQL is written once here and run by both backends
//! through `crate::shared::event_types`.

use async_trait::async_trait;
use serde_json::{Map, Value};

use datahooks_domain::event_types::EventTypeInput;

use crate::Result;

/// A stored custom event type.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomEventType {
    /// Its name.
    pub name: String,
    /// What the client set.
    pub input: EventTypeInput,
    /// Created (API format).
    pub created_at: String,
    /// Last changed (API format).
    pub updated_at: String,
}

pub(crate) const GET: &str = "SELECT name, description, archived, deprecated, schemas, group_name,
        feature_flags, created_at, updated_at
   FROM event_types WHERE account_id = $1 AND name = $2";

/// `$2`: include archived types.
pub(crate) const LIST: &str = "SELECT name, description, archived, deprecated, schemas, group_name,
        feature_flags, created_at, updated_at
   FROM event_types WHERE account_id = $1 AND ($2 OR NOT archived) ORDER BY name";

/// Creates; nothing happens when the name is taken (the caller then answers 409).
pub(crate) const INSERT: &str = "INSERT INTO event_types (account_id, name, description, archived,
        deprecated, schemas, group_name, feature_flags, created_at, updated_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
   ON CONFLICT (account_id, name) DO NOTHING";

/// Creates or replaces everything but the creation time.
pub(crate) const UPSERT: &str = "INSERT INTO event_types (account_id, name, description, archived,
        deprecated, schemas, group_name, feature_flags, created_at, updated_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
   ON CONFLICT (account_id, name) DO UPDATE SET description = excluded.description,
     archived = excluded.archived, deprecated = excluded.deprecated, schemas = excluded.schemas,
     group_name = excluded.group_name, feature_flags = excluded.feature_flags,
     updated_at = excluded.updated_at";

/// (SQLite numbers `$N` parameters in order of first appearance, so they appear in order.)
pub(crate) const ARCHIVE: &str =
    "UPDATE event_types SET archived = $1, updated_at = $2 WHERE account_id = $3 AND name = $4";

pub(crate) const EXPUNGE: &str = "DELETE FROM event_types WHERE account_id = $1 AND name = $2";

/// The stored text of the optional JSON fields.
pub(crate) fn json_fields(input: &EventTypeInput) -> (Option<String>, Option<String>) {
    (
        input
            .schemas
            .as_ref()
            .map(|s| Value::Object(s.clone()).to_string()),
        input
            .feature_flags
            .as_ref()
            .map(|f| serde_json::json!(f).to_string()),
    )
}

/// A row's columns (in [`GET`]'s order) as a type; corrupt JSON is an error.
#[expect(clippy::too_many_arguments, reason = "one argument per column")]
pub(crate) fn from_row(
    name: String,
    description: String,
    archived: bool,
    deprecated: bool,
    schemas: Option<String>,
    group_name: Option<String>,
    feature_flags: Option<String>,
    created_at: String,
    updated_at: String,
) -> Result<CustomEventType> {
    let schemas = schemas
        .map(|s| serde_json::from_str::<Map<String, Value>>(&s))
        .transpose()?;
    let feature_flags = feature_flags
        .map(|s| serde_json::from_str::<Vec<String>>(&s))
        .transpose()?;
    Ok(CustomEventType {
        name,
        input: EventTypeInput {
            description,
            archived,
            deprecated,
            schemas,
            group_name,
            feature_flags,
        },
        created_at,
        updated_at,
    })
}

/// The custom event types of an account.
#[async_trait]
pub trait EventTypeStore {
    /// One type, archived or not.
    async fn event_type(&self, account_id: i64, name: &str) -> Result<Option<CustomEventType>>;
    /// The account's types by name (archived ones only when asked).
    async fn list_event_types(
        &self,
        account_id: i64,
        include_archived: bool,
    ) -> Result<Vec<CustomEventType>>;
    /// Creates a type; `AlreadyExists` when the account has one of that name.
    async fn create_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType>;
    /// Creates or replaces a type (its creation time is kept).
    async fn put_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType>;
    /// Archives a type (`expunge`: deletes it); `NotFound` when there is none.
    async fn delete_event_type(&self, account_id: i64, name: &str, expunge: bool) -> Result<()>;
}
