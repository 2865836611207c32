//! The operator's store calls (`crate::ops`): the schema a database is at, and the sealed
//! endpoint secrets read and replaced in batches when the secret key is rotated, one text for
//! both backends.

use crate::ops::{SchemaVersion, SealedSecrets};
use crate::sql::{from_cols, Cols, Db};
use crate::Result;

/// The schema the database is at, next to `binary`, the latest migration this binary brings
/// for its backend.
pub(crate) async fn schema_version(db: &impl Db, binary: i64) -> Result<SchemaVersion> {
    let sql = db.dialect().schema_version();
    let database = db.one(sql, &[], |r| r.get::<i64>("version")).await?;
    Ok(SchemaVersion { database, binary })
}

/// The migrations (of a backend's list, numbered from 1) still to apply to a database at
/// `applied`, in order. Forward-only: a database migrated further than `migrations` go is
/// refused, so an older binary never runs on a schema it does not know.
pub(crate) fn pending<'m>(applied: i64, migrations: &[&'m str]) -> Result<Vec<(i64, &'m str)>> {
    let binary = migrations.len() as i64;
    if applied > binary {
        return Err(crate::Error::Unsupported(crate::ops::newer_schema_message(
            applied, binary,
        )));
    }
    let numbered = (1..).zip(migrations.iter().copied());
    Ok(numbered.filter(|(n, _)| *n > applied).collect())
}

/// An endpoint's sealed secrets as stored (`old_secrets` is JSON text).
fn sealed_of(r: &impl Cols) -> Result<SealedSecrets> {
    Ok(from_cols!(r => SealedSecrets {
        endpoint_id = "id", secret,
        old_secrets: serde_json::from_str(&r.get::<String>("old_secrets")?)?,
    }))
}

/// Up to `limit` endpoints' sealed secrets, by id, after the id `after` (from the start when
/// `None`).
pub(crate) async fn sealed_secrets(
    db: &impl Db,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<SealedSecrets>> {
    let after = after.unwrap_or("");
    db.rows(
        "SELECT id, secret, old_secrets FROM endpoints WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after, &limit],
        |r| sealed_of(r),
    )
    .await
}

/// Replaces each endpoint's sealed secrets that are still as expected; returns how many.
pub(crate) async fn reseal(
    db: &impl Db,
    changes: &[(SealedSecrets, SealedSecrets)],
) -> Result<usize> {
    let mut n = 0;
    for (expected, new) in changes {
        n += reseal_one(db, expected, new).await?;
    }
    Ok(n)
}

/// Replaces one endpoint's sealed secrets if they are still `expected`; returns 1 if it did.
/// The row is locked first (on PostgreSQL), so a rotation through the API waits for this
/// transaction or wins.
async fn reseal_one(db: &impl Db, expected: &SealedSecrets, new: &SealedSecrets) -> Result<usize> {
    let sql = format!(
        "SELECT id, secret, old_secrets FROM endpoints WHERE id = $1{}",
        db.dialect().lock_row()
    );
    let Some(current) = db
        .opt(&sql, &[&expected.endpoint_id], |r| sealed_of(r))
        .await?
    else {
        return Ok(0); // deleted meanwhile
    };
    if current.secret != expected.secret || current.old_secrets != expected.old_secrets {
        return Ok(0); // rotated through the API meanwhile: sealed with the new key already
    }
    db.exec(
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

crate::both::on_both! {
    impl crate::ops::OpsStore;
    // `Self::binary_schema`: each backend's own list of migrations.
    read fn schema_version() -> Result<SchemaVersion> =
        |db| schema_version(db, Self::binary_schema());
    read fn sealed_secrets(after: Option<&str>, limit: i64) -> Result<Vec<SealedSecrets>> =
        |db| sealed_secrets(db, after, limit);
    write fn reseal_secrets(changes: Vec<(SealedSecrets, SealedSecrets)>) -> Result<usize> =
        |db| reseal(db, changes);
}
