//! `datahooks backup` and `datahooks restore`: the SQLite store copied out while the server
//! runs, and copied back into an empty data dir. On PostgreSQL both point to the database's
//! own tools (`pg_dump`, point-in-time recovery).

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;

use datahooks_store::ops::{location, Location};
use datahooks_store::sqlite::backup as sqlite_backup;

use crate::config::StoreArgs;

const PG_BACKUP: &str = "the store is PostgreSQL: back it up with the database's own tools \
    (`pg_dump -Fc`, or continuous archiving for point-in-time recovery), and keep the secret \
    key (--secret-key) with it; see README \"Backup and restore\"";
const PG_RESTORE: &str = "the store is PostgreSQL: restore it with `pg_restore` (or your \
    point-in-time recovery), then start datahooks with the same --secret-key; see README \
    \"Backup and restore\"";

/// A progress line on stderr, only when stderr is a terminal (logs and pipes get the summary).
fn progress(what: &'static str) -> impl FnMut(u64, u64) {
    let tty = std::io::stderr().is_terminal();
    let mut last = u64::MAX;
    move |done, total| {
        if !tty || total == 0 {
            return;
        }
        let pct = done * 100 / total;
        if pct != last {
            last = pct;
            let mut err = std::io::stderr();
            let _ = write!(err, "\r{what}: {pct:3}% ({done}/{total} pages)");
            if done >= total {
                let _ = writeln!(err);
            }
            let _ = err.flush();
        }
    }
}

/// `datahooks backup --to FILE`.
pub fn backup(store: &StoreArgs, to: &Path) -> anyhow::Result<()> {
    let url = store.url();
    let Location::Sqlite(db) = location(&url) else {
        anyhow::bail!(PG_BACKUP);
    };
    let mut report = progress("backup");
    let summary = sqlite_backup::backup(Path::new(db), to, &mut report)
        .with_context(|| format!("cannot back up {db} to {}", to.display()))?;
    println!(
        "backed up {db} to {} ({} pages, schema {}); keep the secret key \
         (<data-dir>/secret.key or --secret-key) with it",
        to.display(),
        summary.pages,
        summary.schema
    );
    Ok(())
}

/// `datahooks restore --from FILE [--force]`.
pub async fn restore(store: &StoreArgs, from: &Path, force: bool) -> anyhow::Result<()> {
    let url = store.url();
    let Location::Sqlite(db) = location(&url) else {
        anyhow::bail!(PG_RESTORE);
    };
    let db_path = Path::new(db);
    // Check the file before anything at the target is touched.
    let info = sqlite_backup::inspect(from)?;
    if sqlite_backup::holds_data(db_path)? && !force {
        anyhow::bail!(
            "the store at {db} already holds data; restore into an empty data dir, or pass \
             --force to replace it (stop every server using it first)"
        );
    }
    let mut report = progress("restore");
    sqlite_backup::restore(from, db_path, &mut report)
        .with_context(|| format!("cannot restore {} into {db}", from.display()))?;
    println!(
        "restored {} into {db} (schema {}, this binary applies {} at start)",
        from.display(),
        info.schema,
        datahooks_store::sqlite::SqliteStore::binary_schema()
    );
    if !store.data_dir.join("secret.key").exists() {
        println!(
            "note: {} has no secret.key: copy the original server's key there (or start it \
             with its --secret-key), or its endpoints' signing secrets cannot be opened",
            store.data_dir.display()
        );
    }
    Ok(())
}
