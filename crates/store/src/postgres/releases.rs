//! Releases (frozen exports) and assets (PostgreSQL).

use serde_json::{Map, Value};
use tokio_postgres::Row;

use datahooks_domain::events;
use datahooks_domain::model::{Asset, Release, ReleaseStatus};
use datahooks_domain::names;
use datahooks_domain::release_file;

use super::db::Pg;
use super::Tx;
use super::{exec, new_uuid, now, on_conflict, one, opt, outbox, rows};
use crate::shared::accounts;
use crate::shared::datasets;
use crate::shared::samples;
use crate::{DatasetRef, Result, SampleRef};

const RELEASE_COLS: &str = "uuid, name, description, status, created_at, samples_count, url";

fn release_row(r: &Row) -> Result<Release> {
    let url: Option<String> = r.try_get(6)?;
    let status: String = r.try_get(3)?;
    let mut attributes = Map::new();
    if let Some(u) = url {
        attributes.insert("url".into(), Value::String(u));
    }
    Ok(Release {
        uuid: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        release_type: "JSON".into(),
        attributes,
        status: ReleaseStatus::parse(&status)?,
        created_at: r.try_get(4)?,
        samples_count: r.try_get(5)?,
    })
}

pub(crate) async fn list(tx: &Tx<'_>, ds: &DatasetRef) -> Result<Vec<Release>> {
    rows(
        tx,
        &format!(
            "SELECT {RELEASE_COLS} FROM releases WHERE dataset_id = $1 ORDER BY created_at DESC, name"
        ),
        &[&ds.id],
    )
    .await?
    .iter()
    .map(release_row)
    .collect()
}

pub(crate) async fn get(tx: &Tx<'_>, ds: &DatasetRef, name: &str) -> Result<Release> {
    let row = one(
        tx,
        &format!("SELECT {RELEASE_COLS} FROM releases WHERE dataset_id = $1 AND name = $2"),
        &[&ds.id, &name],
    )
    .await?;
    release_row(&row)
}

pub(crate) async fn create(
    tx: &Tx<'_>,
    ds: &DatasetRef,
    name: &str,
    description: &str,
) -> Result<Release> {
    let name = names::path_segment_name(name, "release")?;
    let count: i64 = one(
        tx,
        "SELECT COUNT(*) FROM samples WHERE dataset_id = $1",
        &[&ds.id],
    )
    .await?
    .try_get(0)?;
    let (_, at) = now();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO releases (uuid, dataset_id, name, description, status, created_at, samples_count)
             VALUES ($1, $2, $3, $4, 'PENDING', $5, $6)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&new_uuid(), &ds.id, &name, &description, &at, &count],
    )
    .await
    .map_err(|e| {
        on_conflict(e, || {
            format!("A release named {name} already exists in {}.", ds.full_name)
        })
    })?;
    let release = get(tx, ds, &name).await?;
    // Built by a job enqueued with the request: it survives a crash and any node runs it.
    crate::shared::jobs::enqueue_release_build(&Pg(tx), &release.uuid).await?;
    Ok(release)
}

pub(crate) async fn delete(tx: &Tx<'_>, ds: &DatasetRef, name: &str) -> Result<()> {
    get(tx, ds, name).await?;
    exec(
        tx,
        "DELETE FROM releases WHERE dataset_id = $1 AND name = $2",
        &[&ds.id, &name],
    )
    .await?;
    Ok(())
}

pub(crate) async fn pending(tx: &Tx<'_>) -> Result<Vec<String>> {
    rows(
        tx,
        "SELECT uuid FROM releases WHERE status = 'PENDING' ORDER BY created_at",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

/// The release file (docs' "Structure of the release file"): the dataset, its labelsets and
/// every sample with its label in each labelset (`null` when unlabeled).
async fn file_content(tx: &Tx<'_>, ds: &DatasetRef, release: &Release) -> Result<(Value, i64)> {
    let dataset = datasets::view(&Pg(tx), ds.id, None).await?;
    let labelsets = datasets::labelsets(&Pg(tx), ds.id).await?;
    let uuids: Vec<String> = rows(
        tx,
        "SELECT uuid FROM samples WHERE dataset_id = $1 ORDER BY name",
        &[&ds.id],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<std::result::Result<_, _>>()?;
    let mut out = Vec::with_capacity(uuids.len());
    for uuid in &uuids {
        let s = samples::view(&Pg(tx), uuid, &ds.full_name).await?;
        let sref = SampleRef {
            uuid: uuid.clone(),
            name: s.name.clone(),
            dataset: ds.clone(),
        };
        let mut labels = Vec::with_capacity(labelsets.len());
        for ls in &labelsets {
            labels.push((
                ls.name.clone(),
                samples::label_of(&Pg(tx), &sref, &ls.name).await?,
            ));
        }
        out.push(release_file::sample_entry(&s, &labels));
    }
    let content = release_file::file(release, &dataset, &labelsets, out);
    Ok((content, uuids.len() as i64))
}

pub(crate) async fn build(
    tx: &Tx<'_>,
    uuid: &str,
    token: &str,
    url: &str,
) -> Result<Option<Release>> {
    // Locked: when two nodes build the same release, the second waits here, then finds it no
    // longer pending, so `release.created` is written once.
    let Some(row) = opt(
        tx,
        "SELECT dataset_id, name, status FROM releases WHERE uuid = $1 FOR UPDATE",
        &[&uuid],
    )
    .await?
    else {
        return Ok(None);
    };
    let dataset_id: i64 = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let status: String = row.try_get(2)?;
    if status != "PENDING" {
        return Ok(None);
    }
    let ds = datasets::by_id(&Pg(tx), dataset_id).await?;
    let release = get(tx, &ds, &name).await?;
    let (content, count) = file_content(tx, &ds, &release).await?;
    exec(
        tx,
        "UPDATE releases SET status = 'SUCCEEDED', url = $2, token = $3, content = $4, samples_count = $5 WHERE uuid = $1",
        &[&uuid, &url, &token, &content.to_string(), &count],
    )
    .await?;
    let release = get(tx, &ds, &name).await?;
    outbox::emit(tx, &events::release_event(&release, &ds.full_name, now().0)).await?;
    Ok(Some(release))
}

pub(crate) async fn fail(tx: &Tx<'_>, uuid: &str) -> Result<()> {
    exec(
        tx,
        "UPDATE releases SET status = 'FAILED' WHERE uuid = $1 AND status = 'PENDING'",
        &[&uuid],
    )
    .await?;
    Ok(())
}

pub(crate) async fn file(tx: &Tx<'_>, token: &str) -> Result<(String, String)> {
    let row = one(
        tx,
        "SELECT name, content FROM releases WHERE token = $1 AND content IS NOT NULL",
        &[&token],
    )
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

pub(crate) async fn create_asset(tx: &Tx<'_>, owner_id: i64, filename: &str) -> Result<Asset> {
    let filename = names::path_segment_name(filename, "file")?;
    let owner = accounts::by_id(&Pg(tx), owner_id).await?;
    let uuid = new_uuid();
    let (_, at) = now();
    exec(
        tx,
        "INSERT INTO assets (uuid, owner_id, filename, created_at) VALUES ($1, $2, $3, $4)",
        &[&uuid, &owner_id, &filename, &at],
    )
    .await?;
    Ok(Asset {
        uuid,
        filename,
        created_at: at,
        owner: owner.name,
    })
}

pub(crate) async fn asset(tx: &Tx<'_>, uuid: &str) -> Result<Asset> {
    let r = one(
        tx,
        "SELECT s.uuid, s.filename, s.created_at, a.name FROM assets s JOIN accounts a ON a.id = s.owner_id WHERE s.uuid = $1",
        &[&uuid],
    )
    .await?;
    Ok(Asset {
        uuid: r.try_get(0)?,
        filename: r.try_get(1)?,
        created_at: r.try_get(2)?,
        owner: r.try_get(3)?,
    })
}
