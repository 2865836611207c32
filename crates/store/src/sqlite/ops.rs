//! [`OpsStore`] for SQLite: the schema version (`PRAGMA user_version`) and the sealed
//! secrets of endpoints, re-sealed in batches when the secret key is rotated.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};

use super::{SqliteStore, MIGRATIONS};
use crate::ops::{OpsStore, SchemaVersion, SealedSecrets};
use crate::Result;

/// The latest migration this binary brings for SQLite.
pub fn binary_schema() -> i64 {
    MIGRATIONS.len() as i64
}

#[async_trait]
impl OpsStore for SqliteStore {
    async fn schema_version(&self) -> Result<SchemaVersion> {
        self.read(|tx| {
            let database: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            Ok(SchemaVersion {
                database,
                binary: binary_schema(),
            })
        })
        .await
    }

    async fn sealed_secrets(&self, after: Option<&str>, limit: i64) -> Result<Vec<SealedSecrets>> {
        let after = after.unwrap_or("").to_owned();
        self.read(move |tx| {
            let mut stmt = tx.prepare(
                "SELECT id, secret, old_secrets FROM endpoints WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (endpoint_id, secret, old) = row?;
                out.push(SealedSecrets {
                    endpoint_id,
                    secret,
                    old_secrets: serde_json::from_str(&old)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn reseal_secrets(&self, changes: Vec<(SealedSecrets, SealedSecrets)>) -> Result<usize> {
        self.write(move |tx| {
            let mut n = 0;
            for (expected, new) in &changes {
                n += reseal_one(tx, expected, new)?;
            }
            Ok(n)
        })
        .await
    }
}

/// Replaces one endpoint's sealed secrets if they are still `expected`; returns 1 if it did.
fn reseal_one(
    tx: &Transaction<'_>,
    expected: &SealedSecrets,
    new: &SealedSecrets,
) -> Result<usize> {
    let current: Option<(String, String)> = tx
        .query_row(
            "SELECT secret, old_secrets FROM endpoints WHERE id = ?1",
            params![expected.endpoint_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((secret, old)) = current else {
        return Ok(0); // deleted meanwhile
    };
    let old: Vec<(String, i64)> = serde_json::from_str(&old)?;
    if secret != expected.secret || old != expected.old_secrets {
        return Ok(0); // rotated through the API meanwhile: sealed with the new key already
    }
    tx.execute(
        "UPDATE endpoints SET secret = ?2, old_secrets = ?3 WHERE id = ?1",
        params![
            expected.endpoint_id,
            new.secret,
            serde_json::to_string(&new.old_secrets)?
        ],
    )?;
    Ok(1)
}
