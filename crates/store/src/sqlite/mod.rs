//! The embedded SQLite backend (the default): one writer connection, a few readers, WAL.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions on a blocking thread, so each store call is
//! one atomic transaction; the change and its outbox event commit together or not at all.
//! `synchronous=FULL` makes a commit durable before the API answers.

mod accounts;
mod datasets;
mod issues;
mod outbox;
mod queue;
mod releases;
mod samples;
mod store_impl;
mod webhook_impl;

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::Notify;

use crate::{Error, Result};

const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_init.sql")];
const READERS: usize = 4;

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: String,
    wakeup: Arc<Notify>,
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
            Ok(SqliteStore {
                inner: Arc::new(Inner {
                    writer: Mutex::new(writer),
                    readers: Mutex::new(Vec::new()),
                    path,
                    wakeup: Arc::new(Notify::new()),
                }),
            })
        })
        .await
        .map_err(|e| Error::Other(e.to_string()))?
    }

    /// Runs `f` in one write transaction; commits if it returns `Ok`, rolls back otherwise.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| Error::Other("writer lock poisoned".into()))?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let r = f(&tx)?;
            tx.commit()?;
            Ok(r)
        })
        .await
        .map_err(|e| Error::Other(e.to_string()))?;
        if result.is_ok() {
            // Wake a delivery worker: this commit may have queued deliveries.
            self.inner.wakeup.notify_one();
        }
        result
    }

    /// Runs `f` on a reader connection (in its own read transaction).
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
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
        })
        .await
        .map_err(|e| Error::Other(e.to_string()))?
    }

    pub(crate) fn notify(&self) -> Arc<Notify> {
        self.inner.wakeup.clone()
    }
}

fn connect(path: &str) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let n = i as i64 + 1;
        if n <= version {
            continue;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {n}"))?;
        tx.commit()?;
        tracing::info!(version = n, "applied SQLite migration");
    }
    Ok(())
}

/// The current time, as a timestamp and in API format.
pub(crate) fn now() -> (DateTime<Utc>, String) {
    let t = Utc::now();
    (t, datahooks_domain::time::format(t))
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A random id with a type prefix, like `msg_1f3a…`.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A random UUID (samples, issues, releases, assets).
pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses stored JSON text.
pub(crate) fn json_of(s: &str) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(s)?)
}

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
