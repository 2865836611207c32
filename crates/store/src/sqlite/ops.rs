//! The schema this binary brings for SQLite: what `crate::shared::ops` reports the database's
//! against, and what a backup is checked against before a restore (`super::backup`).

use super::MIGRATIONS;

/// The latest migration this binary brings for SQLite.
pub fn binary_schema() -> i64 {
    MIGRATIONS.len() as i64
}
