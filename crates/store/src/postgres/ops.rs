//! [`OpsStore`] for PostgreSQL: the schema version (`schema_migrations`) and the sealed
//! secrets of endpoints, re-sealed in batches when the secret key is rotated.

use async_trait::async_trait;

use super::{exec, opt, read_tx, rows, write_tx, PgStore, Tx, MIGRATIONS};
use crate::ops::{OpsStore, SchemaVersion, SealedSecrets};
use crate::Result;

/// The latest migration this binary brings for PostgreSQL.
pub fn binary_schema() -> i64 {
    MIGRATIONS.len() as i64
}

#[async_trait]
impl OpsStore for PgStore {
    async fn schema_version(&self) -> Result<SchemaVersion> {
        read_tx!(self, |tx| async {
            let row = opt(&tx, "SELECT MAX(version) FROM schema_migrations", &[]).await?;
            let database: Option<i64> = match row {
                Some(r) => r.try_get(0)?,
                None => None,
            };
            Ok::<_, crate::Error>(SchemaVersion {
                database: database.unwrap_or(0),
                binary: binary_schema(),
            })
        }
        .await)
    }

    async fn sealed_secrets(&self, after: Option<&str>, limit: i64) -> Result<Vec<SealedSecrets>> {
        let after = after.unwrap_or("").to_owned();
        read_tx!(self, |tx| async {
            let found = rows(
                &tx,
                "SELECT id, secret, old_secrets FROM endpoints WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .await?;
            let mut out = Vec::with_capacity(found.len());
            for r in found {
                let old: String = r.try_get(2)?;
                out.push(SealedSecrets {
                    endpoint_id: r.try_get(0)?,
                    secret: r.try_get(1)?,
                    old_secrets: serde_json::from_str(&old)?,
                });
            }
            Ok::<_, crate::Error>(out)
        }
        .await)
    }

    async fn reseal_secrets(&self, changes: Vec<(SealedSecrets, SealedSecrets)>) -> Result<usize> {
        write_tx!(self, |tx| async {
            let mut n = 0;
            for (expected, new) in &changes {
                n += reseal_one(&tx, expected, new).await?;
            }
            Ok::<_, crate::Error>(n)
        }
        .await)
    }
}

/// Replaces one endpoint's sealed secrets if they are still `expected`; returns 1 if it did.
/// The row is locked first, so a rotation through the API waits for this transaction or wins.
async fn reseal_one(tx: &Tx<'_>, expected: &SealedSecrets, new: &SealedSecrets) -> Result<usize> {
    let row = opt(
        tx,
        "SELECT secret, old_secrets FROM endpoints WHERE id = $1 FOR UPDATE",
        &[&expected.endpoint_id],
    )
    .await?;
    let Some(row) = row else {
        return Ok(0); // deleted meanwhile
    };
    let secret: String = row.try_get(0)?;
    let old: String = row.try_get(1)?;
    let old: Vec<(String, i64)> = serde_json::from_str(&old)?;
    if secret != expected.secret || old != expected.old_secrets {
        return Ok(0); // rotated through the API meanwhile: sealed with the new key already
    }
    exec(
        tx,
        "UPDATE endpoints SET secret = $2, old_secrets = $3 WHERE id = $1",
        &[
            &expected.endpoint_id,
            &new.secret,
            &serde_json::to_string(&new.old_secrets)?,
        ],
    )
    .await?;
    Ok(1)
}
