//! Asset sizes, for the per-account upload quota.

use rusqlite::{OptionalExtension, Transaction};

use crate::{Error, Result};

fn owner(tx: &Transaction<'_>, uuid: &str) -> Result<i64> {
    tx.query_row("SELECT owner_id FROM assets WHERE uuid = ?1", [uuid], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(Error::not_found)
}

/// Bytes the asset's owner stores in its other assets.
pub(crate) fn others_size(tx: &Transaction<'_>, uuid: &str) -> Result<i64> {
    let owner = owner(tx, uuid)?;
    Ok(tx.query_row(
        "SELECT COALESCE(SUM(size), 0) FROM assets WHERE owner_id = ?1 AND uuid <> ?2",
        rusqlite::params![owner, uuid],
        |r| r.get(0),
    )?)
}

/// Records the uploaded size unless the owner's total would pass `quota`.
pub(crate) fn record_size(tx: &Transaction<'_>, uuid: &str, size: i64, quota: i64) -> Result<bool> {
    if !crate::within_quota(others_size(tx, uuid)?, size, quota) {
        return Ok(false);
    }
    tx.execute(
        "UPDATE assets SET size = ?2 WHERE uuid = ?1",
        rusqlite::params![uuid, size],
    )?;
    Ok(true)
}
