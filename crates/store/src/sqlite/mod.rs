//! The embedded SQLite backend (the default): one writer connection, a few readers, WAL.
//!
//! Writes go to one writer thread that owns the write connection and **group-commits**: it
//! takes every write call waiting at that moment, runs each inside its own savepoint of one
//! `BEGIN IMMEDIATE` transaction, and commits once. A call whose work fails is rolled back to
//! its savepoint alone, so each store call stays atomic (the change and its outbox event
//! commit together or not at all) while concurrent calls share one fsync. Results are handed
//! back only after the commit, and `synchronous=FULL` makes that commit durable before the
//! API answers.

pub(crate) mod assets;
pub mod backup;
mod db;
pub(crate) use db::Lite;
mod lifecycle;
mod ops;
mod outbox;
pub(crate) mod queue;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::Notify;

use crate::handoff::{scope_sync, Handoff};
use crate::sql::Dialect;
use crate::{Error, Result};

const MIGRATIONS: &[&str] = crate::migrations::SQLITE;
const READERS: usize = 4;

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// A write call as the writer thread runs it: does the work inside the open transaction and
/// returns what to do once the outcome of the commit is known.
type Work = Box<dyn FnOnce(&Transaction<'_>) -> Finish + Send>;

/// A write call and whether its commit must reach the disk before the caller hears of it.
struct Job {
    work: Work,
    durable: bool,
}
/// Delivers a write call's result; told whether the batch committed.
type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// Most write calls folded into one commit.
const MAX_BATCH: usize = 512;

struct Inner {
    writer: std::sync::mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    path: String,
    wakeup: Arc<Notify>,
    /// Wakes the job runner after a commit that enqueued a job (`crate::jobs`).
    jobs: Arc<Notify>,
    /// Counts durable commits, for every stream waiting on one (`StreamStore::commits`):
    /// unlike `wakeup`, which hands its one permit to one worker, every receiver sees it.
    commits: tokio::sync::watch::Sender<u64>,
    /// This node's worker, when one takes the deliveries this store's commits queue.
    handoff: Mutex<Option<Arc<Handoff>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &str) -> Result<SqliteStore> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = Path::new(&path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::Other(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            let mut writer = connect(&path)?;
            migrate(&mut writer)?;
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || writer_loop(writer, rx))
                .map_err(|e| Error::Other(format!("cannot start the writer thread: {e}")))?;
            Ok(SqliteStore {
                inner: Arc::new(Inner {
                    writer: tx,
                    readers: Mutex::new(Vec::new()),
                    path,
                    wakeup: Arc::new(Notify::new()),
                    jobs: Arc::new(Notify::new()),
                    commits: tokio::sync::watch::Sender::new(0),
                    handoff: Mutex::new(None),
                }),
            })
        })
        .await
        .map_err(|e| Error::Other(e.to_string()))?
    }

    /// Runs `f` as one atomic write (a savepoint of a group commit); its effects are kept if
    /// it returns `Ok` and the batch commits, and undone otherwise. The commit is on disk
    /// before this returns.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.submit(f, true).await
    }

    /// Like [`SqliteStore::write`], for the delivery queue's own bookkeeping (claims, attempt
    /// records, throttle slots): a batch made only of these commits without waiting for the
    /// disk (`synchronous=NORMAL`: safe against a process crash, not a power cut). Losing such
    /// a commit in a power cut only makes a delivery happen again, which at-least-once allows;
    /// events and changes always go through `write`.
    pub(crate) async fn write_relaxed<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.submit(f, false).await
    }

    async fn submit<R, F>(&self, f: F, durable: bool) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<R>>();
        let lease_to = self.handoff();
        // Read here, in the caller's task: the writer thread runs outside the caller's span.
        let traceparent = crate::trace::current();
        let wakeup = self.inner.wakeup.clone();
        let jobs = self.inner.jobs.clone();
        let work: Work = Box::new(move |tx: &Transaction<'_>| -> Finish {
            let (outcome, staged) = scope_sync(lease_to, traceparent, || run_in_savepoint(tx, f));
            Box::new(move |commit: std::result::Result<(), String>| {
                let result = match (outcome, commit) {
                    (Ok(r), Ok(())) => {
                        // Committed: hand new deliveries to this node's worker, and wake
                        // the workers if work anyone may claim was queued. (A call that was
                        // rolled back drops what it staged.) The queue's own bookkeeping
                        // stages no wake-up: a worker woken by its own claim would spin.
                        staged.wake_jobs(&jobs);
                        staged.committed(&wakeup);
                        Ok(r)
                    }
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(Error::Other(format!("commit failed: {e}"))),
                };
                let _ = done_tx.send(result);
            })
        });
        self.inner
            .writer
            .send(Job { work, durable })
            .map_err(|_| Error::Other("the writer thread has stopped".into()))?;
        let result = done_rx
            .await
            .map_err(|_| Error::Other("the writer thread dropped a write".into()))?;
        if result.is_ok() && durable {
            // Every open event stream looks again (`StreamStore::commits`); the worker's
            // wake-up is decided by what the commit staged, above.
            self.inner.commits.send_modify(|n| *n = n.wrapping_add(1));
        }
        result
    }

    fn handoff(&self) -> Option<Arc<Handoff>> {
        self.inner.handoff.lock().ok().and_then(|h| h.clone())
    }

    pub(crate) fn set_handoff(&self, handoff: Option<Arc<Handoff>>) {
        if let Ok(mut h) = self.inner.handoff.lock() {
            *h = handoff;
        }
    }

    /// Runs `f` on a reader connection (in its own read transaction), on a blocking thread.
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || read_on_reader(&inner, f))
            .await
            .map_err(|e| Error::Other(e.to_string()))?
    }

    /// Runs `f`, a read of one statement on an index (the request path's key and event-type
    /// reads: tens of microseconds), on a reader connection in the caller's thread. Handing it
    /// to a blocking thread and back would cost more than the read: two thread wake-ups, which
    /// were most of the message path's time on SQLite.
    pub(crate) async fn read_inline<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R>,
    {
        read_on_reader(&self.inner, f)
    }

    pub(crate) fn notify(&self) -> Arc<Notify> {
        self.inner.wakeup.clone()
    }

    pub(crate) fn jobs_notify(&self) -> Arc<Notify> {
        self.inner.jobs.clone()
    }

    /// The latest migration this binary brings for SQLite.
    pub fn binary_schema() -> i64 {
        ops::binary_schema()
    }

    pub(crate) fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commits.subscribe()
    }
}

/// Runs `f` in a read transaction on a pooled reader connection (a new one when all are out),
/// and gives the connection back.
fn read_on_reader<R>(inner: &Inner, f: impl FnOnce(&Transaction<'_>) -> Result<R>) -> Result<R> {
    let pooled = inner.readers.lock().ok().and_then(|mut v| v.pop());
    let mut conn = match pooled {
        Some(c) => c,
        None => connect(&inner.path)?,
    };
    let result = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let r = f(&tx)?;
        tx.commit()?;
        Ok(r)
    })();
    if let Ok(mut v) = inner.readers.lock() {
        if v.len() < READERS {
            v.push(conn);
        }
    }
    result
}

/// Runs one write call inside its own savepoint, so its failure undoes only its own work.
fn run_in_savepoint<R>(
    tx: &Transaction<'_>,
    f: impl FnOnce(&Transaction<'_>) -> Result<R>,
) -> Result<R> {
    run_cached(tx, "SAVEPOINT call")?;
    match f(tx) {
        Ok(r) => {
            run_cached(tx, "RELEASE call")?;
            Ok(r)
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO call; RELEASE call")?;
            Err(e)
        }
    }
}

/// Runs a statement of the writer's own (savepoints, the synchronous mode) from the
/// connection's statement cache: parsing it anew for every call was a measurable part of the
/// writer thread's time.
fn run_cached(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// The writer thread: waits for a write call, gathers every other call already waiting (up
/// to [`MAX_BATCH`]), runs them in one transaction and commits once.
fn writer_loop(mut conn: Connection, rx: std::sync::mpsc::Receiver<Job>) {
    let mut synchronous_full = true;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // Wait for the disk only when some call in the batch needs it.
        let durable = jobs.iter().any(|j| j.durable);
        if durable != synchronous_full {
            let mode = if durable {
                "PRAGMA synchronous=FULL"
            } else {
                "PRAGMA synchronous=NORMAL"
            };
            match run_cached(&conn, mode) {
                Ok(()) => synchronous_full = durable,
                Err(e) => tracing::error!(error = %e, "cannot switch synchronous mode"),
            }
        }
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                // The calls never ran; dropping them tells their callers the write failed.
                tracing::error!(error = %e, calls = jobs.len(), "cannot begin a write transaction");
                continue;
            }
        };
        let mut finishers: Vec<Finish> = Vec::with_capacity(jobs.len());
        for job in jobs {
            // A panicking call must not take the writer down with it: undo its savepoint and
            // drop its result channel (its caller sees an error).
            let work = job.work;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&tx))) {
                Ok(finish) => finishers.push(finish),
                Err(_) => {
                    tracing::error!("a write call panicked; its changes were rolled back");
                    let _ = tx.execute_batch("ROLLBACK TO call; RELEASE call");
                }
            }
        }
        let commit = tx.commit().map_err(|e| e.to_string());
        if let Err(e) = &commit {
            tracing::error!(error = %e, "group commit failed");
        }
        for finish in finishers {
            finish(commit.clone());
        }
    }
}

/// Opens a connection. `temp_store=MEMORY` keeps the statement journals of the writer's
/// per-call savepoints in memory: on disk each batch created, wrote and deleted a temp file.
fn connect(path: &str) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 =
        conn.query_row(Dialect::Sqlite.schema_version(), [], |r| r.get("version"))?;
    for (n, sql) in crate::shared::ops::pending(version, MIGRATIONS)? {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {n}"))?;
        tx.commit()?;
        tracing::info!(version = n, "applied SQLite migration");
    }
    Ok(())
}

pub(crate) use crate::shared::{new_id, now, now_ms};

/// Turns a unique-constraint failure into an "already exists" error with `msg`.
pub(crate) fn on_conflict(e: rusqlite::Error, msg: impl FnOnce() -> String) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Error::exists(msg())
        }
        _ => e.into(),
    }
}
