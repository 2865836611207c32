//! Asset sizes, for the per-account upload quota.

use super::{exec, one, opt, Tx};
use crate::{Error, Result};

async fn owner(tx: &Tx<'_>, uuid: &str) -> Result<i64> {
    let row = opt(tx, "SELECT owner_id FROM assets WHERE uuid = $1", &[&uuid])
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(row.try_get(0)?)
}

async fn sum_others(tx: &Tx<'_>, owner: i64, uuid: &str) -> Result<i64> {
    let row = one(
        tx,
        "SELECT COALESCE(SUM(size), 0)::BIGINT FROM assets WHERE owner_id = $1 AND uuid <> $2",
        &[&owner, &uuid],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Bytes the asset's owner stores in its other assets.
pub(crate) async fn others_size(tx: &Tx<'_>, uuid: &str) -> Result<i64> {
    let owner = owner(tx, uuid).await?;
    sum_others(tx, owner, uuid).await
}

/// Records the uploaded size unless the owner's total would pass `quota`. The owner's row is
/// locked first, so two uploads of one account are judged one after the other.
pub(crate) async fn record_size(tx: &Tx<'_>, uuid: &str, size: i64, quota: i64) -> Result<bool> {
    let owner = owner(tx, uuid).await?;
    exec(
        tx,
        "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
        &[&owner],
    )
    .await?;
    if !crate::within_quota(sum_others(tx, owner, uuid).await?, size, quota) {
        return Ok(false);
    }
    exec(
        tx,
        "UPDATE assets SET size = $2 WHERE uuid = $1",
        &[&uuid, &size],
    )
    .await?;
    Ok(true)
}
