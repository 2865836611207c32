//! Releases (frozen exports) and assets.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use datahooks_domain::events;
use datahooks_domain::model::{Asset, Release, ReleaseStatus};
use datahooks_domain::names;
use datahooks_domain::release_file;

use super::db::Lite;
use super::{new_uuid, now, on_conflict, outbox};
use crate::shared::accounts;
use crate::shared::datasets;
use crate::shared::samples;
use crate::sql::block_now;
use crate::{DatasetRef, Error, Result, SampleRef};

const RELEASE_COLS: &str = "uuid, name, description, status, created_at, samples_count, url";

fn release_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Release, String)> {
    let url: Option<String> = r.get(6)?;
    let status: String = r.get(3)?;
    let mut attributes = Map::new();
    if let Some(u) = url {
        attributes.insert("url".into(), Value::String(u));
    }
    Ok((
        Release {
            uuid: r.get(0)?,
            name: r.get(1)?,
            description: r.get(2)?,
            release_type: "JSON".into(),
            attributes,
            status: ReleaseStatus::Pending,
            created_at: r.get(4)?,
            samples_count: r.get(5)?,
        },
        status,
    ))
}

fn finish((mut r, status): (Release, String)) -> Result<Release> {
    r.status = ReleaseStatus::parse(&status)?;
    Ok(r)
}

pub(crate) fn list(tx: &Transaction<'_>, ds: &DatasetRef) -> Result<Vec<Release>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {RELEASE_COLS} FROM releases WHERE dataset_id = ?1 ORDER BY created_at DESC, name"
    ))?;
    let rows = stmt.query_map([ds.id], release_row)?;
    rows.map(|r| finish(r?)).collect()
}

pub(crate) fn get(tx: &Transaction<'_>, ds: &DatasetRef, name: &str) -> Result<Release> {
    let row = tx
        .query_row(
            &format!("SELECT {RELEASE_COLS} FROM releases WHERE dataset_id = ?1 AND name = ?2"),
            params![ds.id, name],
            release_row,
        )
        .optional()?
        .ok_or_else(Error::not_found)?;
    finish(row)
}

pub(crate) fn create(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    name: &str,
    description: &str,
) -> Result<Release> {
    let name = names::path_segment_name(name, "release")?;
    let count: i64 = tx.query_row(
        "SELECT COUNT(*) FROM samples WHERE dataset_id = ?1",
        [ds.id],
        |r| r.get(0),
    )?;
    let (_, at) = now();
    tx.execute(
        "INSERT INTO releases (uuid, dataset_id, name, description, status, created_at, samples_count)
         VALUES (?1, ?2, ?3, ?4, 'PENDING', ?5, ?6)",
        params![new_uuid(), ds.id, name, description, at, count],
    )
    .map_err(|e| on_conflict(e, || format!("A release named {name} already exists in {}.", ds.full_name)))?;
    let release = get(tx, ds, &name)?;
    // Built by a job enqueued with the request: it survives a crash and any node runs it.
    block_now(crate::shared::jobs::enqueue_release_build(
        &Lite(tx),
        &release.uuid,
    ))??;
    Ok(release)
}

pub(crate) fn delete(tx: &Transaction<'_>, ds: &DatasetRef, name: &str) -> Result<()> {
    get(tx, ds, name)?;
    tx.execute(
        "DELETE FROM releases WHERE dataset_id = ?1 AND name = ?2",
        params![ds.id, name],
    )?;
    Ok(())
}

pub(crate) fn pending(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let mut stmt =
        tx.prepare("SELECT uuid FROM releases WHERE status = 'PENDING' ORDER BY created_at")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The release file (docs' "Structure of the release file"): the dataset, its labelsets and
/// every sample with its label in each labelset (`null` when unlabeled).
fn file_content(tx: &Transaction<'_>, ds: &DatasetRef, release: &Release) -> Result<(Value, i64)> {
    let dataset = block_now(datasets::view(&Lite(tx), ds.id, None))??;
    let labelsets = block_now(datasets::labelsets(&Lite(tx), ds.id))??;
    let uuids: Vec<String> = {
        let mut stmt =
            tx.prepare("SELECT uuid FROM samples WHERE dataset_id = ?1 ORDER BY name")?;
        let rows = stmt.query_map([ds.id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::with_capacity(uuids.len());
    for uuid in &uuids {
        let s = block_now(samples::view(&Lite(tx), uuid, &ds.full_name))??;
        let sref = SampleRef {
            uuid: uuid.clone(),
            name: s.name.clone(),
            dataset: ds.clone(),
        };
        let mut labels = Vec::with_capacity(labelsets.len());
        for ls in &labelsets {
            labels.push((
                ls.name.clone(),
                block_now(samples::label_of(&Lite(tx), &sref, &ls.name))??,
            ));
        }
        out.push(release_file::sample_entry(&s, &labels));
    }
    let content = release_file::file(release, &dataset, &labelsets, out);
    Ok((content, uuids.len() as i64))
}

pub(crate) fn build(
    tx: &Transaction<'_>,
    uuid: &str,
    token: &str,
    url: &str,
) -> Result<Option<Release>> {
    let row: Option<(i64, String, String)> = tx
        .query_row(
            "SELECT dataset_id, name, status FROM releases WHERE uuid = ?1",
            [uuid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((dataset_id, name, status)) = row else {
        return Ok(None);
    };
    if status != "PENDING" {
        return Ok(None);
    }
    let ds = block_now(datasets::by_id(&Lite(tx), dataset_id))??;
    let release = get(tx, &ds, &name)?;
    let (content, count) = file_content(tx, &ds, &release)?;
    tx.execute(
        "UPDATE releases SET status = 'SUCCEEDED', url = ?2, token = ?3, content = ?4, samples_count = ?5 WHERE uuid = ?1",
        params![uuid, url, token, content.to_string(), count],
    )?;
    let release = get(tx, &ds, &name)?;
    outbox::emit(tx, &events::release_event(&release, &ds.full_name, now().0))?;
    Ok(Some(release))
}

pub(crate) fn fail(tx: &Transaction<'_>, uuid: &str) -> Result<()> {
    tx.execute(
        "UPDATE releases SET status = 'FAILED' WHERE uuid = ?1 AND status = 'PENDING'",
        [uuid],
    )?;
    Ok(())
}

pub(crate) fn file(tx: &Transaction<'_>, token: &str) -> Result<(String, String)> {
    tx.query_row(
        "SELECT name, content FROM releases WHERE token = ?1 AND content IS NOT NULL",
        [token],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .ok_or_else(Error::not_found)
}

pub(crate) fn create_asset(tx: &Transaction<'_>, owner_id: i64, filename: &str) -> Result<Asset> {
    let filename = names::path_segment_name(filename, "file")?;
    let owner = block_now(accounts::by_id(&Lite(tx), owner_id))??;
    let uuid = new_uuid();
    let (_, at) = now();
    tx.execute(
        "INSERT INTO assets (uuid, owner_id, filename, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![uuid, owner_id, filename, at],
    )?;
    Ok(Asset {
        uuid,
        filename,
        created_at: at,
        owner: owner.name,
    })
}

pub(crate) fn asset(tx: &Transaction<'_>, uuid: &str) -> Result<Asset> {
    tx.query_row(
        "SELECT s.uuid, s.filename, s.created_at, a.name FROM assets s JOIN accounts a ON a.id = s.owner_id WHERE s.uuid = ?1",
        [uuid],
        |r| Ok(Asset { uuid: r.get(0)?, filename: r.get(1)?, created_at: r.get(2)?, owner: r.get(3)? }),
    )
    .optional()?
    .ok_or_else(Error::not_found)
}
