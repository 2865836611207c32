//! Online backup and restore of the SQLite store, with SQLite's backup API.
//!
//! A backup copies the database page by page from its own connection while the server keeps
//! writing. The copy runs inside one read transaction held from before the first page to after
//! the last: in WAL mode that pins one snapshot (writers go on appending to the WAL), so the
//! copy is consistent as of the moment the backup began, and the backup never has to restart
//! because another connection wrote. It is written to `FILE.partial`, synced, then renamed, so
//! a crash mid-backup never leaves a torn file under the name asked for.
//!
//! A restore checks the file first (a SQLite database holding datahooks' tables, at a schema
//! this binary knows), then copies it into the target with the backup API (one transaction:
//! the target is the old database or the new one, never a mix), and hands back the delivery
//! leases recorded in the copy: the process that held them is not running on the restored
//! store, so those deliveries are due again at once.

use std::path::{Path, PathBuf};

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::ops::binary_schema;
use crate::ops::newer_schema_message;
use crate::{Error, Result};

/// Pages copied per step of a backup or restore (4 MiB with 4 KiB pages), between progress
/// reports.
const PAGES_PER_STEP: std::ffi::c_int = 1024;

/// Tables every datahooks database has, whatever its schema version.
const REQUIRED_TABLES: &[&str] = &[
    "accounts",
    "datasets",
    "samples",
    "events",
    "endpoints",
    "deliveries",
];

/// Progress of a copy: pages done and pages in all.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// What a finished backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    /// Database pages copied.
    pub pages: u64,
    /// Schema version of the copy.
    pub schema: i64,
}

/// Copies the live database at `db` into `dest` (which must not exist) as one consistent
/// snapshot, reporting progress.
pub fn backup(db: &Path, dest: &Path, progress: Progress<'_>) -> Result<BackupSummary> {
    if !db.exists() {
        return Err(Error::Other(format!("no database at {}", db.display())));
    }
    if dest.exists() {
        return Err(Error::Other(format!(
            "{} already exists; choose a new file",
            dest.display()
        )));
    }
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(std::time::Duration::from_secs(10))?;
    // The snapshot: a read transaction begins at its first read and lasts until COMMIT.
    src.execute_batch("BEGIN DEFERRED")?;
    let schema: i64 = src.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_tables(&src, db)?;
    let partial = partial_path(dest);
    let _ = std::fs::remove_file(&partial);
    let result = copy_into(&src, &partial, progress);
    src.execute_batch("COMMIT")?;
    let pages = match result {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    sync_file(&partial)?;
    std::fs::rename(&partial, dest)
        .map_err(|e| Error::Other(format!("cannot rename to {}: {e}", dest.display())))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself must survive a power cut.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(BackupSummary { pages, schema })
}

/// Copies `src` (inside its open read transaction) into a new file at `path`.
fn copy_into(src: &Connection, path: &Path, progress: Progress<'_>) -> Result<u64> {
    let mut dst = Connection::open(path)?;
    let pages = {
        let backup = Backup::new(src, &mut dst)?;
        run(&backup, progress)?
    };
    // The copy keeps the source's WAL flag; switch it to a plain rollback journal so the backup
    // is one self-contained file.
    dst.execute_batch("PRAGMA journal_mode=DELETE")?;
    drop(dst);
    Ok(pages)
}

/// Steps a backup to the end, reporting progress after each step.
fn run(backup: &Backup<'_, '_>, progress: Progress<'_>) -> Result<u64> {
    use rusqlite::backup::StepResult;
    loop {
        let step = backup.step(PAGES_PER_STEP)?;
        let p = backup.progress();
        let total = p.pagecount.max(0) as u64;
        let done = total.saturating_sub(p.remaining.max(0) as u64);
        progress(done, total);
        match step {
            StepResult::Done => return Ok(total),
            StepResult::More => {}
            // Busy or locked: the target (or source) is briefly held by another connection.
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

/// What a backup file holds, checked before a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupInfo {
    /// Schema version of the file.
    pub schema: i64,
}

/// Checks that `file` is a datahooks SQLite database this binary can run, without changing it.
pub fn inspect(file: &Path) -> Result<BackupInfo> {
    if !file.is_file() {
        return Err(Error::Other(format!("{} is not a file", file.display())));
    }
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let not_db = |e: rusqlite::Error| {
        Error::Other(format!(
            "{} is not a datahooks backup (not a SQLite database: {e})",
            file.display()
        ))
    };
    let schema: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(not_db)?;
    check_tables(&conn, file)?;
    if schema < 1 {
        return Err(Error::Other(format!(
            "{} is not a datahooks backup (no migrations applied)",
            file.display()
        )));
    }
    if schema > binary_schema() {
        return Err(Error::Unsupported(format!(
            "cannot restore {}: {}",
            file.display(),
            newer_schema_message(schema, binary_schema())
        )));
    }
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(not_db)?;
    if check != "ok" {
        return Err(Error::Other(format!(
            "{} is damaged: {check}",
            file.display()
        )));
    }
    Ok(BackupInfo { schema })
}

/// Whether the database at `db` holds anything: a missing or empty file, or one without any
/// table, does not.
pub fn holds_data(db: &Path) -> Result<bool> {
    match std::fs::metadata(db) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::Other(format!("cannot read {}: {e}", db.display()))),
        Ok(m) if m.len() == 0 => return Ok(false),
        Ok(_) => {}
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    Ok(tables > 0)
}

/// Copies the backup `file` into the database at `db` (created if missing; replaced whole if
/// it exists: the caller decides whether that is allowed), then makes the deliveries that were
/// leased when the backup was taken due now. The server must not be running on `db`.
pub fn restore(file: &Path, db: &Path, progress: Progress<'_>) -> Result<BackupInfo> {
    let info = inspect(file)?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Other(format!("cannot create {}: {e}", dir.display())))?;
    }
    if !db.exists() {
        // A WAL left beside a database that is gone would be replayed into the new one.
        for suffix in ["-wal", "-shm"] {
            let mut side = db.as_os_str().to_owned();
            side.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(side));
        }
    }
    let src = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut dst = Connection::open(db)?;
    dst.busy_timeout(std::time::Duration::from_secs(10))?;
    {
        let backup = Backup::new(&src, &mut dst)?;
        run(&backup, progress)?;
    }
    dst.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")?;
    let now = chrono::Utc::now().timestamp_millis();
    dst.execute(
        "UPDATE deliveries SET status = 1, lease_owner = NULL, lease_until = NULL,
             next_attempt_at = MIN(next_attempt_at, ?1)
         WHERE status = 3",
        [now],
    )?;
    Ok(info)
}

fn check_tables(conn: &Connection, file: &Path) -> Result<()> {
    for t in REQUIRED_TABLES {
        let found: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [t],
                |r| r.get(0),
            )
            .map_err(|e| {
                Error::Other(format!(
                    "{} is not a datahooks database (not a SQLite database: {e})",
                    file.display()
                ))
            })?;
        if found == 0 {
            return Err(Error::Other(format!(
                "{} is not a datahooks database (no `{t}` table)",
                file.display()
            )));
        }
    }
    Ok(())
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::Other(format!("cannot sync {}: {e}", path.display())))
}
