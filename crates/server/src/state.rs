//! Shared state of the HTTP app.

use std::path::PathBuf;
use std::sync::Arc;

use datahooks_store::Store;
use datahooks_webhooks::metrics::Metrics;
use datahooks_webhooks::ssrf::DestinationPolicy;
use datahooks_webhooks::vault::Vault;

/// Settings the HTTP app needs.
#[derive(Clone)]
pub struct ServerConfig {
    /// Base URL for links handed out (assets, release files), without a trailing `/`.
    pub public_url: String,
    /// Where asset files are kept.
    pub data_dir: PathBuf,
    /// Largest request body, after decompression.
    pub body_limit: usize,
    /// Largest uploaded asset.
    pub asset_limit: usize,
    /// Bytes of uploaded assets one account may keep.
    pub asset_quota: u64,
    /// Key for signing asset upload policies and sealing secrets.
    pub secret_key: Vec<u8>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Webhook machinery shared with the worker.
    pub hooks: Arc<Hooks>,
}

/// What the webhook API shares with the delivery worker.
pub struct Hooks {
    /// Seals endpoint secrets.
    pub vault: Vault,
    /// Where deliveries may go.
    pub policy: Arc<DestinationPolicy>,
    /// Delivery metrics.
    pub metrics: Arc<Metrics>,
    /// Where the message API waits while this node's worker is behind (see
    /// `datahooks_webhooks::admission`); never closes unless the node runs a worker.
    pub admission: Arc<datahooks_webhooks::admission::Admission>,
    /// Whether this node's delivery worker runs (`None`: this node runs no worker).
    pub worker: Option<Arc<crate::ready::WorkerRunning>>,
    /// Set when the server shuts down: open event streams end, so a graceful shutdown does
    /// not wait for them forever.
    pub closing: tokio::sync::watch::Sender<bool>,
}

impl Hooks {
    /// Webhook machinery with a vault keyed by `secret_key` and a destination policy.
    pub fn new(secret_key: &[u8], policy: Arc<DestinationPolicy>, metrics: Arc<Metrics>) -> Hooks {
        Hooks {
            vault: Vault::new(secret_key),
            policy,
            metrics,
            admission: Arc::default(),
            worker: None,
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Ends every open event stream (at shutdown).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }
}

impl AppState {
    /// A URL under the public base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_url.trim_end_matches('/'))
    }
}
