//! Operating the store: which schema a database is at (readiness, upgrades), and the sealed
//! endpoint secrets, read and replaced in batches when the secret key is rotated.
//!
//! Kept apart from [`crate::Store`]'s use-case methods: these serve the operator's commands and
//! probes, not the API.

use async_trait::async_trait;

use crate::Result;

/// The schema a database is at, next to the one this binary brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaVersion {
    /// The latest migration applied to the database.
    pub database: i64,
    /// The latest migration this binary knows.
    pub binary: i64,
}

impl SchemaVersion {
    /// Whether the database is exactly at this binary's schema.
    pub fn is_current(&self) -> bool {
        self.database == self.binary
    }

    /// Why the schema is not current, for a readiness probe or an error; `None` when it is.
    pub fn problem(&self) -> Option<String> {
        match self.database.cmp(&self.binary) {
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Less => Some(format!(
                "the database is at migration {}, this binary needs {}: migrations are pending",
                self.database, self.binary
            )),
            std::cmp::Ordering::Greater => Some(newer_schema_message(self.database, self.binary)),
        }
    }
}

/// The refusal a binary gives a database migrated by a newer datahooks.
pub(crate) fn newer_schema_message(database: i64, binary: i64) -> String {
    format!(
        "the database is at migration {database}, newer than this datahooks binary knows \
         ({binary}): it was migrated by a newer release; run that release (or a newer one) \
         instead of this one"
    )
}

/// An endpoint's sealed signing secrets, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecrets {
    /// `ep_…`.
    pub endpoint_id: String,
    /// The current secret, sealed.
    pub secret: String,
    /// Previous secrets still accepted, sealed, with their expiry (unix ms).
    pub old_secrets: Vec<(String, i64)>,
}

/// What the operator's commands and probes need from the store.
#[async_trait]
pub trait OpsStore: Send + Sync {
    /// The schema the database is at. Also proves the store answers.
    async fn schema_version(&self) -> Result<SchemaVersion>;
    /// Up to `limit` endpoints' sealed secrets, in id order, after the endpoint id `after`.
    async fn sealed_secrets(&self, after: Option<&str>, limit: i64) -> Result<Vec<SealedSecrets>>;
    /// Replaces each endpoint's sealed secrets `(expected, new)` where they are still
    /// `expected` (an endpoint whose secret was rotated meanwhile is left alone), in one
    /// transaction. Returns how many endpoints were changed.
    async fn reseal_secrets(&self, changes: Vec<(SealedSecrets, SealedSecrets)>) -> Result<usize>;
}

/// Where a database URL points, for commands that work on the file itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    /// A SQLite file at this path.
    Sqlite(&'a str),
    /// A PostgreSQL database.
    Postgres,
}

/// Classifies a database URL as [`crate::open`] does.
pub fn location(url: &str) -> Location<'_> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Location::Sqlite(path);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Location::Postgres;
    }
    Location::Sqlite(url)
}
