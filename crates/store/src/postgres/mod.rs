//! The PostgreSQL backend, for several nodes sharing one database: a connection pool, the same
//! tables and the same behaviour as the SQLite backend.
//!
//! Each store call is one transaction: writes at READ COMMITTED (row locks order conflicting
//! writers; the delivery queue is claimed with `FOR UPDATE SKIP LOCKED`), reads at REPEATABLE
//! READ READ ONLY (one snapshot for the whole answer, as SQLite's read transaction gives). A
//! write that fails with a deadlock or serialization failure rolled back whole, so it is run
//! again a few times before `Error::Busy` is returned.
//!
//! Wake on commit across nodes: a transaction that queues deliveries calls
//! `pg_notify('datahooks_wakeup')`, which PostgreSQL delivers only when it commits; each store
//! keeps one connection that `LISTEN`s on that channel and feeds the workers' [`Notify`].

pub(crate) mod assets;
mod db;
pub(crate) use db::Pg;
mod ingest;
pub(crate) mod opwh;
mod outbox;
pub(crate) mod queue;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::handoff::Handoff;
use crate::sql::Dialect;
use crate::{Error, Result};

/// The migrations, in order; `schema_migrations` records which ones a database has.
const MIGRATIONS: &[&str] = crate::migrations::POSTGRES;

/// Connections per node. The worker holds few at once (claim, then one short transaction per
/// finished attempt) and API requests are short, so 16 per node keeps three nodes well under
/// PostgreSQL's default `max_connections` of 100 (with [`RELAXED_POOL_SIZE`]: 72).
const POOL_SIZE: usize = 16;

/// Connections per node for the queue's own bookkeeping, which commits without waiting for
/// the WAL flush (see [`PgStore::relaxed_client`]).
const RELAXED_POOL_SIZE: usize = 8;

/// The channel workers listen on.
pub(crate) const WAKEUP_CHANNEL: &str = "datahooks_wakeup";

/// The channel job runners listen on (`crate::jobs`): a job was enqueued.
pub(crate) const JOBS_CHANNEL: &str = "datahooks_jobs";

/// Advisory lock keys (per database). Arbitrary constants: ASCII of "dhmigr" and "dhoutb".
const MIGRATION_LOCK: i64 = 0x6468_6d69_6772;
pub(crate) const OUTBOX_LOCK: i64 = 0x6468_6f75_7462;

/// How often a write that hit a deadlock or serialization failure is run in all.
const WRITE_TRIES: u32 = 4;

/// One transaction of the pool (with its per-connection statement cache).
pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// A query parameter.
pub(crate) type Param<'a> = &'a (dyn ToSql + Sync);

/// The PostgreSQL store. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Connections with `synchronous_commit=off` ([`PgStore::relaxed_client`]).
    relaxed: Pool,
    wakeup: Arc<Notify>,
    /// Wakes the job runner: a commit here or a `NOTIFY datahooks_jobs` from another node.
    jobs: Arc<Notify>,
    /// Counts commits (this node's, and other nodes' heard by NOTIFY) for every stream
    /// waiting on one (`StreamStore::commits`); `wakeup` hands its permit to one worker only.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    listener: AbortHandle,
    handoff: std::sync::Mutex<Option<Arc<Handoff>>>,
    /// API messages on their way to the next group commit (`ingest`).
    ingest: tokio::sync::mpsc::Sender<ingest::Request>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The listener task holds its own connection; it ends with the store.
        self.listener.abort();
    }
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names, applies migrations and starts
    /// listening for wake-ups. Must run inside a Tokio runtime.
    pub async fn open(url: &str) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::Other(format!("bad PostgreSQL URL: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("datahooks");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let pool = pool_of(config.clone(), POOL_SIZE)?;
        let mut relaxed = config.clone();
        relaxed.options(match config.get_options() {
            Some(given) => format!("{given} -c synchronous_commit=off"),
            None => "-c synchronous_commit=off".to_owned(),
        });
        let relaxed = pool_of(relaxed, RELAXED_POOL_SIZE)?;
        {
            let mut client = pool.get().await.map_err(pool_err)?;
            migrate(&mut client).await?;
        }
        let wakeup = Arc::new(Notify::new());
        let jobs = Arc::new(Notify::new());
        let commits = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let wakes = Wakes {
            wakeup: wakeup.clone(),
            jobs: jobs.clone(),
            commits: commits.clone(),
        };
        let listener = tokio::spawn(listen(config, wakes, ready_tx)).abort_handle();
        // Listen before the store is handed out, so no commit made through it goes unheard.
        match tokio::time::timeout(Duration::from_secs(30), ready).await {
            Ok(Ok(())) => {}
            _ => {
                listener.abort();
                return Err(Error::Other(
                    "cannot LISTEN for wake-ups on the PostgreSQL server".into(),
                ));
            }
        }
        let (ingest, requests) = ingest::channel();
        let inner = Arc::new(Inner {
            pool,
            relaxed,
            wakeup,
            jobs,
            commits,
            listener,
            handoff: std::sync::Mutex::new(None),
            ingest,
        });
        tokio::spawn(ingest::run(Arc::downgrade(&inner), requests));
        Ok(PgStore { inner })
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.inner.pool.get().await.map_err(pool_err)
    }

    /// A pooled connection for the delivery queue's own bookkeeping (claims, attempt records,
    /// leases, pace): its commits do not wait for the WAL flush (`synchronous_commit=off`),
    /// as SQLite's `write_relaxed`. A server crash may lose the last such commits, which at
    /// worst makes a delivery happen again (at-least-once allows it); a later durable commit
    /// flushes them with it, so none is lost while a change after it is kept. Events and
    /// changes use [`PgStore::client`] and wait for the disk.
    pub(crate) async fn relaxed_client(&self) -> Result<deadpool_postgres::Object> {
        self.inner.relaxed.get().await.map_err(pool_err)
    }

    /// Counts a commit of this node for every open event stream (`StreamStore::commits`);
    /// the workers' wake-up is decided by what the commit staged.
    pub(crate) fn count_commit(&self) {
        bump(&self.inner.commits);
    }

    pub(crate) fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commits.subscribe()
    }

    /// This node's worker, when one takes the deliveries this store's commits queue.
    pub(crate) fn handoff(&self) -> Option<Arc<Handoff>> {
        self.inner.handoff.lock().ok().and_then(|h| h.clone())
    }

    pub(crate) fn set_handoff(&self, handoff: Option<Arc<Handoff>>) {
        if let Ok(mut h) = self.inner.handoff.lock() {
            *h = handoff;
        }
    }

    /// Runs one statement on its own (autocommit: one round trip, atomic by itself) on a
    /// [`PgStore::relaxed_client`] connection, run again on a deadlock or serialization
    /// failure. For the queue's hot statements, where BEGIN and COMMIT would triple the round
    /// trips. (`on_both!`'s `write_single` mode is the same on the durable pool.)
    pub(crate) async fn single_relaxed<R, F, Fut>(&self, f: F) -> Result<R>
    where
        F: Fn(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = Result<R>>,
    {
        retry_busy!(f(self.relaxed_client().await?).await)
    }

    pub(crate) fn notify(&self) -> Arc<Notify> {
        self.inner.wakeup.clone()
    }

    pub(crate) fn jobs_notify(&self) -> Arc<Notify> {
        self.inner.jobs.clone()
    }

    /// The latest migration this binary brings for PostgreSQL.
    pub fn binary_schema() -> i64 {
        MIGRATIONS.len() as i64
    }
}

/// Runs `$body` (an expression that uses the transaction `$tx` and evaluates to a
/// `Result`) in one write transaction of `$store`, committing on `Ok`. Deadlocks and
/// serialization failures roll the whole transaction back, so the body is simply run again.
/// A macro rather than a closure-taking method: the body borrows the caller's arguments, and
/// async closures over a borrowed transaction do not name their lifetimes well.
/// `write_tx!(relaxed store, |tx| …)` runs it on a [`PgStore::relaxed_client`] connection.
macro_rules! write_tx {
    (relaxed $store:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::write_tx!(@on relaxed_client, $store, |$tx| $body)
    };
    ($store:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::write_tx!(@on client, $store, |$tx| $body)
    };
    (@on $client:ident, $store:expr, |$tx:ident| $body:expr) => {{
        let store: &$crate::postgres::PgStore = &$store;
        let mut tries = 0u32;
        loop {
            tries += 1;
            // The transaction stages what to do after its commit: deliveries leased to this
            // node's worker, and whether to wake the workers.
            let (result, staged) = $crate::handoff::scope_async(store.handoff(), async {
                let mut client = store.$client().await?;
                let $tx = client.transaction().await?;
                let value = $body?;
                $tx.commit().await?;
                Ok::<_, $crate::Error>(value)
            })
            .await;
            match result {
                Err($crate::Error::Busy) if tries < $crate::postgres::write_tries() => {
                    $crate::postgres::backoff(tries).await;
                }
                Ok(value) => {
                    // This node's workers hear their own NOTIFY too; waking them here saves
                    // the trip through the server.
                    staged.wake_jobs(&store.jobs_notify());
                    staged.committed(&store.notify());
                    store.count_commit();
                    break Ok(value);
                }
                Err(e) => break Err(e),
            }
        }
    }};
}

/// Runs `$body` in one read-only transaction on one snapshot.
macro_rules! read_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let store: &$crate::postgres::PgStore = &$store;
        async {
            let mut client = store.client().await?;
            let $tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let value = $body?;
            $tx.commit().await?;
            Ok::<_, $crate::Error>(value)
        }
        .await
    }};
}

/// Runs `$body` (using the connection `$c`) on a pooled connection outside any transaction:
/// for a read that is one statement, atomic by itself, so `BEGIN` and `COMMIT` would only
/// add two round trips. The request path's reads (the key, the event types) use it.
macro_rules! read_one {
    ($store:expr, |$c:ident| $body:expr) => {{
        let store: &$crate::postgres::PgStore = &$store;
        async {
            let client = store.client().await?;
            let $c: &deadpool_postgres::Client = &client;
            let value = $body?;
            Ok::<_, $crate::Error>(value)
        }
        .await
    }};
}

/// Evaluates `$attempt` (a `Result`, usually ending in `.await`) again, after a short pause,
/// while it fails with [`Error::Busy`] (a deadlock or a serialization failure), at most
/// `WRITE_TRIES` times in all; any other outcome is the value. For a statement that is atomic
/// by itself (`PgStore::single_relaxed`, `on_both!`'s single-statement modes).
macro_rules! retry_busy {
    ($attempt:expr) => {{
        let mut tries = 0u32;
        loop {
            tries += 1;
            match $attempt {
                Err($crate::Error::Busy) if tries < $crate::postgres::write_tries() => {
                    $crate::postgres::backoff(tries).await
                }
                other => break other,
            }
        }
    }};
}

pub(crate) use {read_one, read_tx, retry_busy, write_tx};

pub(crate) fn write_tries() -> u32 {
    WRITE_TRIES
}

/// A short, growing pause before running a conflicting write again.
pub(crate) async fn backoff(tries: u32) {
    let jitter = u64::from(rand::random::<u8>() % 10);
    tokio::time::sleep(Duration::from_millis(5 * u64::from(tries) + jitter)).await;
}

/// Classifies a driver error: the one place PostgreSQL errors become store errors.
pub(crate) fn classify(e: tokio_postgres::Error) -> Error {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
            // Only reached where a caller did not expect a duplicate (see `on_conflict`).
            let detail = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .unwrap_or("a unique constraint")
                .to_owned();
            Error::exists(format!("This already exists ({detail})."))
        }
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            Error::Busy
        }
        _ => Error::Other(e.to_string()),
    }
}

/// A connection pool of `size` for `config`.
fn pool_of(config: tokio_postgres::Config, size: usize) -> Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection that a server restart closed is noticed and replaced here.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| Error::Other(format!("cannot build the PostgreSQL pool: {e}")))
}

fn pool_err(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => classify(e),
        other => Error::Other(format!("no PostgreSQL connection: {other}")),
    }
}

// ---- queries -------------------------------------------------------------------------------

/// Rows of a static statement (prepared once per connection).
pub(crate) async fn rows(
    tx: &impl GenericClient,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query(&stmt, params).await?)
}

/// At most one row of a static statement.
pub(crate) async fn opt(
    tx: &impl GenericClient,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&stmt, params).await?)
}

/// Exactly one row of a static statement; `NotFound` when there is none.
pub(crate) async fn one(tx: &impl GenericClient, sql: &str, params: &[Param<'_>]) -> Result<Row> {
    opt(tx, sql, params).await?.ok_or_else(Error::not_found)
}

/// Runs a static statement; returns the rows it changed.
pub(crate) async fn exec(tx: &impl GenericClient, sql: &str, params: &[Param<'_>]) -> Result<u64> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&stmt, params).await?)
}

/// Tells every node's workers, when this transaction commits, that deliveries any node may
/// claim were queued.
pub(crate) async fn wake_workers(tx: &Tx<'_>) -> Result<()> {
    exec(tx, "SELECT pg_notify($1, '')", &[&WAKEUP_CHANNEL]).await?;
    crate::handoff::wake_after_commit();
    Ok(())
}

// ---- migrations ------------------------------------------------------------------------------

async fn migrate(client: &mut deadpool_postgres::Object) -> Result<()> {
    let tx = client.transaction().await?;
    // Several nodes may start at once: the first takes the lock and migrates, the others wait
    // for it here and then find nothing left to do. The lock ends with the transaction.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY,
             applied_at TEXT NOT NULL
         )",
    )
    .await?;
    let applied: i64 = tx
        .query_one(Dialect::Postgres.schema_version(), &[])
        .await?
        .try_get("version")?;
    for (n, sql) in crate::shared::ops::pending(applied, MIGRATIONS)? {
        // DDL is transactional in PostgreSQL: a failed migration leaves nothing behind.
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&n, &now().1],
        )
        .await?;
        tracing::info!(version = n, "applied PostgreSQL migration");
    }
    tx.commit().await?;
    Ok(())
}

// ---- wake-ups ------------------------------------------------------------------------------

/// Tells every stream waiting for a commit (see `Inner::commits`).
fn bump(commits: &tokio::sync::watch::Sender<u64>) {
    commits.send_modify(|n| *n = n.wrapping_add(1));
}

/// What the wake-up listener feeds.
struct Wakes {
    /// The delivery workers (`datahooks_wakeup`).
    wakeup: Arc<Notify>,
    /// The job runner (`datahooks_jobs`).
    jobs: Arc<Notify>,
    /// Every open event stream.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Wakes {
    /// A notification arrived on `channel` (or, with `None`, anything may have been missed).
    fn heard(&self, channel: Option<&str>) {
        match channel {
            Some(JOBS_CHANNEL) => self.jobs.notify_one(),
            Some(_) => self.wakeup.notify_one(),
            None => {
                self.wakeup.notify_one();
                self.jobs.notify_one();
            }
        }
        bump(&self.commits);
    }
}

/// Keeps a connection that LISTENs for wake-ups and turns each into `notify_one`. When the
/// connection drops (the server restarted), reconnects with a growing pause, and wakes the
/// workers and the job runner once after reconnecting: a commit may have happened while
/// nobody listened. `ready` is told when the first LISTEN is in place.
async fn listen(
    config: tokio_postgres::Config,
    wakes: Wakes,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let wakes = Arc::new(wakes);
    let mut ready = Some(ready);
    let mut pause = Duration::from_millis(100);
    loop {
        let listening = || match ready.take() {
            // The first LISTEN: the store is not handed out yet, so nothing was missed.
            Some(r) => {
                let _ = r.send(());
            }
            None => wakes.heard(None),
        };
        match listen_once(&config, &wakes, listening).await {
            Ok(()) => pause = Duration::from_millis(100),
            Err(e) => tracing::warn!(error = %e, "wake-up listener: no connection"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Aborts a task when dropped, so a connection's driver ends with its listener.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One listening connection, until it fails; calls `listening` once LISTEN is in place. `Ok`
/// when the connection was up and then closed.
async fn listen_once(
    config: &tokio_postgres::Config,
    wakes: &Arc<Wakes>,
    listening: impl FnOnce(),
) -> std::result::Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection's messages (notifications among them) arrive only while it is polled, so
    // a task drives it while this one sends LISTEN and then pings.
    let forward = wakes.clone();
    let mut driver = AbortOnDrop(tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    forward.heard(Some(n.channel()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }));
    client
        .batch_execute(&format!("LISTEN {WAKEUP_CHANNEL}; LISTEN {JOBS_CHANNEL}"))
        .await?;
    tracing::debug!("listening for wake-ups");
    listening();
    // A ping now and then notices a connection that died without closing.
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    ping.tick().await;
    loop {
        tokio::select! {
            ended = &mut driver.0 => return ended.unwrap_or(Ok(())),
            _ = ping.tick() => {
                let alive =
                    tokio::time::timeout(Duration::from_secs(10), client.simple_query("")).await;
                if !matches!(alive, Ok(Ok(_))) {
                    return Ok(());
                }
            }
        }
    }
}

// ---- values --------------------------------------------------------------------------------

pub(crate) use crate::shared::{new_id, now, now_ms};

#[cfg(test)]
mod tests {
    use super::PgStore;

    /// The queue's bookkeeping runs on connections that do not wait for the WAL flush, and
    /// everything else on connections that do. Needs `DATAHOOKS_TEST_PG_URL` (skipped without).
    #[tokio::test]
    async fn only_the_relaxed_pool_commits_without_waiting_for_the_flush() {
        let Ok(server) = std::env::var("DATAHOOKS_TEST_PG_URL") else {
            return;
        };
        let name = format!("relaxed_{}", uuid::Uuid::new_v4().simple());
        let (admin, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (base, _) = server.split_once('?').unwrap_or((&server, ""));
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        let setting = |c: deadpool_postgres::Object| async move {
            let row = c.query_one("SHOW synchronous_commit", &[]).await.unwrap();
            row.get::<_, String>(0)
        };
        {
            let store = PgStore::open(&url).await.unwrap();
            assert_eq!(setting(store.client().await.unwrap()).await, "on");
            assert_eq!(setting(store.relaxed_client().await.unwrap()).await, "off");
        }
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
    }
}
