//! Command-line flags, each with an environment fallback; validated once at start-up.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// datahooks: a data-labeling platform API whose every change becomes a signed webhook.
#[derive(Debug, Parser)]
#[command(name = "datahooks", version, about)]
pub struct Cli {
    /// Where the store lives.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Store location, shared by every command.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Database URL: `sqlite://PATH` (default: `<data-dir>/datahooks.db`).
    #[arg(long, env = "DATAHOOKS_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory for the database, assets and the secret key.
    #[arg(
        long,
        env = "DATAHOOKS_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
}

impl StoreArgs {
    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data_dir.join("datahooks.db").display()),
        }
    }
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serves the API and delivers webhooks.
    Serve(ServeArgs),
    /// Applies the database migrations and exits.
    Migrate,
    /// Manages users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manages organizations.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Manages API keys.
    #[command(subcommand)]
    Apikey(KeyCmd),
    /// Reads the event outbox.
    #[command(subcommand)]
    Events(EventsCmd),
    /// Copies the SQLite store to FILE while the server runs (one consistent snapshot).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restores a backup into an empty data dir (stop the server first).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Replace a store that already holds data.
        #[arg(long)]
        force: bool,
    },
    /// Manages the secret key that seals endpoint secrets.
    #[command(subcommand)]
    SecretKey(SecretKeyCmd),
    /// Forwards an account's events from a datahooks server to a URL on this machine
    /// (local development: no inbound port needed).
    Listen(ListenArgs),
    /// Runs the retention sweep once (what `serve` does every `--retention-sweep-interval`).
    #[command(subcommand, hide = true)]
    Retention(RetentionCmd),
}

/// `retention` commands.
#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Expires payloads past their retention and deletes finished data older than
    /// `--retention`, as seen at `--now` (default: the clock).
    Sweep {
        /// As `serve --retention`.
        #[arg(long, default_value = "90d")]
        retention: String,
        /// The time to sweep as of (RFC 3339), e.g. to see what a sweep in 30 days removes.
        #[arg(long)]
        now: Option<String>,
    },
}

/// `secret-key` commands.
#[derive(Debug, Subcommand)]
pub enum SecretKeyCmd {
    /// Re-seals every stored endpoint secret under the first of the keys given, in batches,
    /// while servers run with the same list (`NEW,OLD`); afterwards OLD can be dropped.
    Rotate {
        /// The keys, new first: `NEW,OLD` (hex). Default: `<data-dir>/secret.key`.
        #[arg(long, env = "DATAHOOKS_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        /// Endpoints re-sealed per transaction.
        #[arg(long, default_value_t = 100)]
        batch_size: i64,
    },
}

/// `listen` flags.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// The datahooks server.
    #[arg(
        long,
        env = "DATAHOOKS_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// An API key of a user who manages the account.
    #[arg(long, env = "DATAHOOKS_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Where to POST each event, e.g. `http://localhost:3000/hook`.
    #[arg(long)]
    pub forward_to: String,
    /// The account (application) to listen to: its name or `app_…` id (default: the only
    /// one the key manages with webhooks enabled).
    #[arg(long)]
    pub app: Option<String>,
    /// Only these event types (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// Only events of this dataset (`owner/name`).
    #[arg(long)]
    pub dataset: Option<String>,
}

/// `serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed on stdout).
    #[arg(long, env = "DATAHOOKS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Base URL for links handed out (default: `http://<listen address>`).
    #[arg(long, env = "DATAHOOKS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest request body in bytes, after decompression.
    #[arg(long, env = "DATAHOOKS_BODY_LIMIT", default_value_t = 10 * 1024 * 1024)]
    pub body_limit: usize,
    /// Key that seals endpoint secrets and signs upload policies (hex, 32 bytes). Created in
    /// the data dir on first start when not given. While rotating, a list `NEW,OLD`: the first
    /// seals and signs, every key opens.
    #[arg(long, env = "DATAHOOKS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Retry delays after the first attempt, e.g. `5s,5m,30m,2h,5h,10h,10h` (the default).
    #[arg(long, env = "DATAHOOKS_RETRY_SCHEDULE")]
    pub retry_schedule: Option<String>,
    /// Destination ranges to allow despite the SSRF guard: `CIDR` (every port), `CIDR:port` or
    /// `[IPv6-CIDR]:port` (that port only); repeatable.
    #[arg(
        long = "allow-destination",
        env = "DATAHOOKS_ALLOW_DESTINATIONS",
        value_delimiter = ','
    )]
    pub allow_destinations: Vec<String>,
    /// Timeout of one delivery attempt, in seconds.
    #[arg(long, env = "DATAHOOKS_REQUEST_TIMEOUT", default_value_t = 15)]
    pub request_timeout: u64,
    /// How long a node holds a claimed delivery before others may take it over, in seconds
    /// (default: the request timeout + 45 s). Must exceed the request timeout.
    #[arg(long, env = "DATAHOOKS_LEASE_SECS")]
    pub lease_secs: Option<u64>,
    /// Deliveries in flight at once on this node.
    #[arg(long, env = "DATAHOOKS_WORKER_CONCURRENCY", default_value_t = 256)]
    pub worker_concurrency: usize,
    /// Deliveries in flight to one endpoint at once on this node, so that a slow or dead
    /// endpoint cannot hold up the others.
    #[arg(long, env = "DATAHOOKS_ENDPOINT_CONCURRENCY", default_value_t = 64)]
    pub endpoint_concurrency: usize,
    /// What this node runs: the API and the worker (`all`), only the API, or only the worker
    /// (which still answers `/api/v1/health` and `/metrics`).
    #[arg(long, env = "DATAHOOKS_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// This node's name, the owner of its delivery leases (default: kept in
    /// `<data-dir>/node.id`, created on first start). Give each node its own.
    #[arg(long, env = "DATAHOOKS_NODE_ID")]
    pub node_id: Option<String>,
    /// Log lines as text for people, or one JSON object per line for a log collector.
    #[arg(long, env = "DATAHOOKS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Connections served at once; a connection beyond it is answered `503` and closed.
    #[arg(long, env = "DATAHOOKS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's head (line and headers), counted from the
    /// connection's opening or the request's first byte.
    #[arg(long, env = "DATAHOOKS_HEADER_TIMEOUT", default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds a keep-alive connection may wait for its next request with nothing moving.
    #[arg(long, env = "DATAHOOKS_IDLE_TIMEOUT", default_value_t = 20.0)]
    pub idle_timeout: f64,
    /// Seconds a request body may stop arriving while its handler reads it; then the request
    /// is answered `408` and the connection closed. Counted between reads, so a slow upload
    /// that keeps moving is not cut.
    #[arg(long, env = "DATAHOOKS_BODY_TIMEOUT", default_value_t = 30.0)]
    pub body_timeout: f64,
    /// Bytes of uploaded assets one account may keep (default 1 GiB).
    #[arg(long, env = "DATAHOOKS_ASSET_QUOTA", default_value_t = 1 << 30)]
    pub asset_quota: u64,
    /// How long finished messages (with their deliveries and attempts), events and idempotency
    /// rows are kept: `90d`, `12h`, `30m`; `0` or `off` keeps them for ever. Messages with a
    /// delivery still to make are never deleted.
    #[arg(long, env = "DATAHOOKS_RETENTION", default_value = "90d")]
    pub retention: String,
    /// How often the retention sweep runs (it also expires payloads whose
    /// `payloadRetentionPeriod` ran out).
    #[arg(long, env = "DATAHOOKS_RETENTION_SWEEP_INTERVAL", default_value = "1h")]
    pub retention_sweep_interval: String,
}

/// How log lines are written (on stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`)
    /// and the spans it happened in.
    Json,
}

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// API, pages and delivery worker.
    All,
    /// API and pages only.
    Api,
    /// Delivery worker only.
    Worker,
}

/// `user` commands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Creates a user; prints its first API key as the last line.
    Create {
        /// User name.
        name: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Deletes a user (who must own no datasets or assets); its keys and web sessions end at
    /// once.
    Delete {
        /// User name.
        name: String,
    },
}

/// `org` commands.
#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    /// Creates an organization with its first admin.
    Create {
        /// Organization name.
        name: String,
        /// The user who administers it.
        #[arg(long)]
        owner: String,
    },
    /// Adds a member (or changes a member's role).
    AddMember {
        /// Organization.
        org: String,
        /// User.
        user: String,
        /// admin, manager, reviewer or labeler.
        #[arg(long, default_value = "labeler")]
        role: String,
    },
}

/// `apikey` commands.
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Creates a key for a user; prints it as the last line.
    Create {
        /// User name.
        user: String,
    },
    /// Revokes a key by its id.
    Revoke {
        /// Key id (the part after `dh_`, before the next `_`).
        key_id: String,
    },
}

/// `events` commands.
#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// Prints committed events as JSON lines `{seq, id, payload}`, in commit order.
    List {
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many.
        #[arg(long, default_value_t = 100_000)]
        limit: i64,
    },
}
