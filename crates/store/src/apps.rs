//! What the Svix-compatible API keeps beyond the platform's own tables: an application's
//! settings (display name, `throttleRate`, `metadata`) and attempt counts over a time window.
//! The SQL is written once, in `crate::shared::apps`, and run by both backends.

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::Result;

/// An application's settings; [`AppSettings::default_for`] when never set.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSettings {
    /// Display name (Svix's `name`); the uid stays the account name.
    pub name: String,
    /// Stored and returned; deliveries are throttled per endpoint, not per application.
    pub throttle_rate: Option<i64>,
    /// String-to-string metadata, as Svix has it.
    pub metadata: Map<String, Value>,
    /// When they were last set (RFC 3339), if ever.
    pub updated_at: Option<String>,
}

impl AppSettings {
    /// The settings of an application nobody has set any for: its name is the account name.
    pub fn default_for(account_name: &str) -> AppSettings {
        AppSettings {
            name: account_name.to_owned(),
            throttle_rate: None,
            metadata: Map::new(),
            updated_at: None,
        }
    }
}

/// Attempts at one endpoint in a window, by outcome (Svix's `EndpointAttemptStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptStats {
    pub success: i64,
    pub fail: i64,
}

/// Parses stored metadata; corrupt JSON is an error, not an empty map.
pub(crate) fn parse_metadata(s: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(s)
        .map_err(|e| crate::Error::Other(format!("corrupt application metadata: {e}")))
}

/// Application settings and windowed attempt counts.
#[async_trait]
pub trait AppStore {
    /// The settings stored for an account's application, if any were ever set.
    async fn app_settings(&self, account_id: i64) -> Result<Option<AppSettings>>;
    /// Stores (replaces) an account's application settings; `updated_at` is set to now.
    async fn set_app_settings(&self, account_id: i64, s: AppSettings) -> Result<AppSettings>;
    /// Attempts at an endpoint (by its id) between two unix-ms times.
    async fn attempt_stats(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<AttemptStats>;
}
