//! Releases (frozen exports of a dataset, built by a background job) and assets: one text for
//! both backends.

use serde_json::{Map, Value};

use datahooks_domain::events;
use datahooks_domain::model::{Asset, Release, ReleaseStatus};
use datahooks_domain::names;
use datahooks_domain::release_file;

use super::{accounts, datasets, jobs, new_uuid, now, on_conflict, samples};
use crate::sql::{from_cols, Cols, Db};
use crate::{DatasetRef, Result, SampleRef};

const RELEASE_COLS: &str = "uuid, name, description, status, created_at, samples_count, url";

/// A row of [`RELEASE_COLS`] as a release.
fn release_of(r: &impl Cols) -> Result<Release> {
    let mut attributes = Map::new();
    if let Some(u) = r.get::<Option<String>>("url")? {
        attributes.insert("url".into(), Value::String(u));
    }
    Ok(from_cols!(r => Release {
        uuid, name, description, created_at, samples_count,
        release_type: "JSON".into(),
        attributes: attributes,
        status: ReleaseStatus::parse(&r.get::<String>("status")?)?,
    }))
}

/// A dataset's releases, newest first.
pub(crate) async fn list(db: &impl Db, ds: &DatasetRef) -> Result<Vec<Release>> {
    db.rows(
        &format!(
            "SELECT {RELEASE_COLS} FROM releases WHERE dataset_id = $1 ORDER BY created_at DESC, name"
        ),
        &[&ds.id],
        |r| release_of(r),
    )
    .await
}

/// A dataset's release by name.
pub(crate) async fn get(db: &impl Db, ds: &DatasetRef, name: &str) -> Result<Release> {
    db.one(
        &format!("SELECT {RELEASE_COLS} FROM releases WHERE dataset_id = $1 AND name = $2"),
        &[&ds.id, &name],
        |r| release_of(r),
    )
    .await
}

/// Requests a release: recorded as pending, and built by a job enqueued with the request (it
/// survives a crash and any node runs it).
pub(crate) async fn create(
    db: &impl Db,
    ds: &DatasetRef,
    name: &str,
    description: &str,
) -> Result<Release> {
    let name = names::path_segment_name(name, "release")?;
    let count: i64 = db
        .one(
            "SELECT COUNT(*) AS n FROM samples WHERE dataset_id = $1",
            &[&ds.id],
            |r| r.get("n"),
        )
        .await?;
    let (_, at) = now();
    db.exec(
        "INSERT INTO releases (uuid, dataset_id, name, description, status, created_at, samples_count)
         VALUES ($1, $2, $3, $4, 'PENDING', $5, $6)",
        &[&new_uuid(), &ds.id, &name, &description, &at, &count],
    )
    .await
    .map_err(on_conflict(|| {
        format!("A release named {name} already exists in {}.", ds.full_name)
    }))?;
    let release = get(db, ds, &name).await?;
    jobs::enqueue_release_build(db, &release.uuid).await?;
    Ok(release)
}

/// Deletes a dataset's release by name.
pub(crate) async fn delete(db: &impl Db, ds: &DatasetRef, name: &str) -> Result<()> {
    get(db, ds, name).await?;
    db.exec(
        "DELETE FROM releases WHERE dataset_id = $1 AND name = $2",
        &[&ds.id, &name],
    )
    .await?;
    Ok(())
}

/// The releases waiting to be built, oldest first.
pub(crate) async fn pending(db: &impl Db) -> Result<Vec<String>> {
    db.rows(
        "SELECT uuid FROM releases WHERE status = 'PENDING' ORDER BY created_at",
        &[],
        |r| r.get("uuid"),
    )
    .await
}

/// The release file (docs' "Structure of the release file"): the dataset, its labelsets and
/// every sample with its label in each labelset (`null` when unlabeled).
async fn file_content(db: &impl Db, ds: &DatasetRef, release: &Release) -> Result<(Value, i64)> {
    let dataset = datasets::view(db, ds.id, None).await?;
    let labelsets = datasets::labelsets(db, ds.id).await?;
    let uuids: Vec<String> = db
        .rows(
            "SELECT uuid FROM samples WHERE dataset_id = $1 ORDER BY name",
            &[&ds.id],
            |r| r.get("uuid"),
        )
        .await?;
    let mut out = Vec::with_capacity(uuids.len());
    for uuid in &uuids {
        let s = samples::view(db, uuid, &ds.full_name).await?;
        let sref = SampleRef {
            uuid: uuid.clone(),
            name: s.name.clone(),
            dataset: ds.clone(),
        };
        let mut labels = Vec::with_capacity(labelsets.len());
        for ls in &labelsets {
            labels.push((
                ls.name.clone(),
                samples::label_of(db, &sref, &ls.name).await?,
            ));
        }
        out.push(release_file::sample_entry(&s, &labels));
    }
    let content = release_file::file(release, &dataset, &labelsets, out);
    Ok((content, uuids.len() as i64))
}

/// A pending release's row as the build finds it.
struct Pending {
    dataset_id: i64,
    name: String,
    status: String,
}

/// Builds a pending release: its file, served under `token` at `url`, and `release.created`.
/// `None` when it is gone or no longer pending.
pub(crate) async fn build(
    db: &impl Db,
    uuid: &str,
    token: &str,
    url: &str,
) -> Result<Option<Release>> {
    // Locked: when two nodes build the same release, the second waits here, then finds it no
    // longer pending, so `release.created` is written once.
    let sql = format!(
        "SELECT dataset_id, name, status FROM releases WHERE uuid = $1{}",
        db.dialect().lock_row()
    );
    let found = db
        .opt(&sql, &[&uuid], |r| {
            Ok(from_cols!(r => Pending { dataset_id, name, status }))
        })
        .await?;
    let Some(Pending {
        dataset_id,
        name,
        status,
    }) = found
    else {
        return Ok(None);
    };
    if status != "PENDING" {
        return Ok(None);
    }
    let ds = datasets::by_id(db, dataset_id).await?;
    let release = get(db, &ds, &name).await?;
    let (content, count) = file_content(db, &ds, &release).await?;
    db.exec(
        "UPDATE releases SET status = 'SUCCEEDED', url = $2, token = $3, content = $4, samples_count = $5 WHERE uuid = $1",
        &[&uuid, &url, &token, &content.to_string(), &count],
    )
    .await?;
    let release = get(db, &ds, &name).await?;
    db.emit(&events::release_event(&release, &ds.full_name, now().0))
        .await?;
    Ok(Some(release))
}

/// Marks a release whose build failed for good.
pub(crate) async fn fail(db: &impl Db, uuid: &str) -> Result<()> {
    db.exec(
        "UPDATE releases SET status = 'FAILED' WHERE uuid = $1 AND status = 'PENDING'",
        &[&uuid],
    )
    .await?;
    Ok(())
}

/// A built release's name and file, by its download token.
pub(crate) async fn file(db: &impl Db, token: &str) -> Result<(String, String)> {
    db.one(
        "SELECT name, content FROM releases WHERE token = $1 AND content IS NOT NULL",
        &[&token],
        |r| Ok((r.get("name")?, r.get("content")?)),
    )
    .await
}

/// Records a new asset of an account.
pub(crate) async fn create_asset(db: &impl Db, owner_id: i64, filename: &str) -> Result<Asset> {
    let filename = names::path_segment_name(filename, "file")?;
    let owner = accounts::by_id(db, owner_id).await?;
    let uuid = new_uuid();
    let (_, at) = now();
    db.exec(
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

/// An asset by uuid.
pub(crate) async fn asset(db: &impl Db, uuid: &str) -> Result<Asset> {
    db.one(
        "SELECT s.uuid, s.filename, s.created_at, a.name FROM assets s
           JOIN accounts a ON a.id = s.owner_id WHERE s.uuid = $1",
        &[&uuid],
        |r| Ok(from_cols!(r => Asset { uuid, filename, created_at, owner = "name" })),
    )
    .await
}
