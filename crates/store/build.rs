//! Lists each backend's migrations, in order, into `$OUT_DIR/migrations.rs` (included by
//! `src/migrations.rs`), so that adding a migration is adding its file and nothing else.
//!
//! A migration is `migrations/both/NNNN_name.sql` when one text suits both backends (most
//! `ALTER TABLE … ADD COLUMN … DEFAULT …` do), or a pair `migrations/sqlite/NNNN_name.sql` and
//! `migrations/postgres/NNNN_name.sql` where the dialects differ. The position in the list
//! is the schema version a database records, so the build fails when the two backends'
//! numbers differ or a number is used twice: a gap between numbers is fine, a mismatch
//! would give one version two meanings.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

type Files = BTreeMap<String, PathBuf>;

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let both = numbered(&root.join("both"))?;
    let sqlite = backend(&root.join("sqlite"), &both)?;
    let postgres = backend(&root.join("postgres"), &both)?;
    if sqlite.keys().ne(postgres.keys()) {
        return Err(format!(
            "the migrations of SQLite ({:?}) and PostgreSQL ({:?}) must have the same numbers",
            sqlite.keys().collect::<Vec<_>>(),
            postgres.keys().collect::<Vec<_>>()
        )
        .into());
    }
    let mut out = String::new();
    for (name, files) in [("SQLITE", &sqlite), ("POSTGRES", &postgres)] {
        writeln!(out, "pub(crate) const {name}: &[&str] = &[")?;
        for path in files.values() {
            writeln!(out, "    include_str!({:?}),", path.display().to_string())?;
        }
        writeln!(out, "];")?;
    }
    std::fs::write(
        PathBuf::from(std::env::var("OUT_DIR")?).join("migrations.rs"),
        out,
    )?;
    Ok(())
}

/// A backend's own migrations and the shared ones, by number.
fn backend(dir: &Path, both: &Files) -> Result<Files, Box<dyn Error>> {
    let mut files = numbered(dir)?;
    for (n, path) in both {
        if let Some(own) = files.insert(n.clone(), path.clone()) {
            return Err(format!("migration {n} is both {own:?} and {path:?}").into());
        }
    }
    Ok(files)
}

/// The `NNNN_name.sql` files of a folder (none when it does not exist), by their number.
fn numbered(dir: &Path) -> Result<Files, Box<dyn Error>> {
    let mut files = Files::new();
    if !dir.exists() {
        return Ok(files);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let number = match name.split_once('_') {
            Some((n, _)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("{path:?} is not named NNNN_name.sql").into()),
        };
        if let Some(other) = files.insert(number.to_owned(), path.clone()) {
            return Err(format!("migration {number} is both {other:?} and {path:?}").into());
        }
    }
    Ok(files)
}
