//! Samples and their labels: one text for both backends.

use serde_json::Value;

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, EventType};
use datahooks_domain::inputs::{LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{Label, LabelStatus, Sample};

use super::{datasets, json_of, new_uuid, now, on_conflict};
use crate::sql::{from_cols, Arg, Cols, Db};
use crate::{DatasetRef, Error, Result, SampleQuery, SampleRef, SampleSort};

const SAMPLE_COLS: &str = "s.uuid, s.name, s.attributes, s.metadata, s.priority, s.readme,
    s.assigned_labeler, s.assigned_reviewer, s.created_at, s.created_by, s.updated_at";

fn sample_row(r: &impl Cols, dataset: &str) -> Result<Sample> {
    let attributes: Option<String> = r.get("attributes")?;
    let metadata: String = r.get("metadata")?;
    Ok(from_cols!(r => Sample {
        uuid, name, priority, readme, assigned_labeler, assigned_reviewer, created_at,
        created_by, updated_at,
        attributes: attributes.as_deref().map(json_of).transpose()?,
        metadata: match json_of(&metadata)? {
            Value::Object(m) => m,
            _ => Default::default(),
        },
        dataset_full_name: dataset.to_owned(),
        dataset: dataset.to_owned(),
        label: None,
    }))
}

pub(crate) async fn view(db: &impl Db, uuid: &str, dataset: &str) -> Result<Sample> {
    let sql = format!("SELECT {SAMPLE_COLS} FROM samples s WHERE s.uuid = $1");
    db.one(&sql, &[&uuid], |r| sample_row(r, dataset)).await
}

/// Locks a sample's row until the transaction ends, so read-change-write sequences on it (and
/// on its labels) run one after the other where writers are concurrent (PostgreSQL), as they
/// do under SQLite's single writer anyway.
async fn lock(db: &impl Db, uuid: &str) -> Result<()> {
    let lock = db.dialect().lock_row();
    if lock.is_empty() {
        return Ok(());
    }
    let sql = format!("SELECT uuid FROM samples WHERE uuid = $1{lock}");
    db.opt(&sql, &[&uuid], |_| Ok(())).await?;
    Ok(())
}

pub(crate) async fn find(db: &impl Db, caller: i64, uuid: &str) -> Result<(SampleRef, Access)> {
    let (name, dataset_id): (String, i64) = db
        .one(
            "SELECT name, dataset_id FROM samples WHERE uuid = $1",
            &[&uuid],
            |r| Ok((r.get("name")?, r.get("dataset_id")?)),
        )
        .await?;
    let ds = datasets::by_id(db, dataset_id).await?;
    let (ds, access) = datasets::visible(db, caller, ds).await?;
    let sample = SampleRef {
        uuid: uuid.to_owned(),
        name,
        dataset: ds,
    };
    Ok((sample, access))
}

pub(crate) async fn get(db: &impl Db, s: &SampleRef, labelset: Option<&str>) -> Result<Sample> {
    let mut sample = view(db, &s.uuid, &s.dataset.full_name).await?;
    if let Some(ls) = labelset {
        datasets::labelset(db, &s.dataset, ls).await?;
        sample.label = label_of(db, s, ls)
            .await?
            .map(serde_json::to_value)
            .transpose()?;
    }
    Ok(sample)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A parameter of a statement built at run time.
type Param = Box<dyn Arg + Send>;

pub(crate) async fn list(db: &impl Db, ds: &DatasetRef, q: &SampleQuery) -> Result<Vec<Sample>> {
    let dialect = db.dialect();
    let mut sql = format!(
        "SELECT {SAMPLE_COLS} FROM samples s
         LEFT JOIN labels l ON l.sample_uuid = s.uuid AND l.labelset = $1
         LEFT JOIN labels gt ON gt.sample_uuid = s.uuid AND gt.labelset = 'ground-truth'
         WHERE s.dataset_id = $2"
    );
    let mut args: Vec<Param> = vec![Box::new(q.labelset.clone()), Box::new(ds.id)];
    if let Some(sub) = &q.name_contains {
        // Case-insensitive for ASCII letters only, as SQLite's LIKE is: both sides folded.
        args.push(Box::new(
            format!("%{}%", escape_like(sub)).to_ascii_lowercase(),
        ));
        sql += &format!(
            " AND {} LIKE ${} ESCAPE '\\'",
            dialect.ascii_lower("s.name"),
            args.len()
        );
    }
    for (key, value) in &q.metadata {
        args.push(Box::new(dialect.json_key(&key.replace('"', ""))));
        let k = args.len();
        args.push(Box::new(value.clone()));
        sql += &format!(" AND {}", dialect.json_text_eq("s.metadata", k, args.len()));
    }
    if !q.label_status.is_empty() {
        let mut parts = Vec::new();
        for status in &q.label_status {
            if *status == LabelStatus::Unlabeled {
                parts.push("l.label_status IS NULL".to_owned());
            } else {
                args.push(Box::new(status.as_str().to_owned()));
                parts.push(format!("l.label_status = ${}", args.len()));
            }
        }
        sql += &format!(" AND ({})", parts.join(" OR "));
    }
    let key = match q.sort {
        SampleSort::Name => "s.name",
        SampleSort::CreatedAt => "s.created_at",
        SampleSort::Priority => "s.priority",
        SampleSort::UpdatedAt => "s.updated_at",
        SampleSort::GtLabelUpdatedAt => "gt.updated_at",
    };
    // An unlabeled sample's label time (NULL) sorts before everything, as SQLite does by
    // default; PostgreSQL is told.
    let (dir, nulls) = if q.descending {
        ("DESC", "NULLS LAST")
    } else {
        ("ASC", "NULLS FIRST")
    };
    args.push(Box::new(q.page.per_page));
    args.push(Box::new(q.page.offset()));
    sql += &format!(
        " ORDER BY {key} {dir} {nulls}, s.name {dir}, s.uuid LIMIT ${} OFFSET ${}",
        args.len() - 1,
        args.len()
    );
    let params: Vec<&dyn Arg> = args.iter().map(|a| a.as_ref() as &dyn Arg).collect();
    let mut out = db
        .rows(&sql, &params, |r| sample_row(r, &ds.full_name))
        .await?;
    if out.is_empty() && q.page.page > 1 {
        return Err(Error::InvalidPage);
    }
    if let Some(full) = q.include_label {
        for s in &mut out {
            let r = SampleRef {
                uuid: s.uuid.clone(),
                name: s.name.clone(),
                dataset: ds.clone(),
            };
            s.label = match label_of(db, &r, &q.labelset).await? {
                Some(l) if full => Some(serde_json::to_value(l)?),
                Some(l) => Some(l.summary()),
                None => None,
            };
        }
    }
    Ok(out)
}

/// Inserts a sample; `None` when `skip_existing` and the name is taken.
async fn insert(
    db: &impl Db,
    ds: &DatasetRef,
    s: &NewSample,
    actor: &str,
    skip_existing: bool,
) -> Result<Option<String>> {
    let uuid = new_uuid();
    let (_, at) = now();
    // With `skip_existing`, a name taken by a concurrent transaction is skipped as well, not
    // reported as a conflict: ON CONFLICT waits for that transaction and then does nothing.
    let sql = if skip_existing {
        "INSERT INTO samples (uuid, dataset_id, name, attributes, metadata, priority, readme,
             assigned_labeler, assigned_reviewer, created_at, created_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)
         ON CONFLICT (dataset_id, name) DO NOTHING"
    } else {
        "INSERT INTO samples (uuid, dataset_id, name, attributes, metadata, priority, readme,
             assigned_labeler, assigned_reviewer, created_at, created_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)"
    };
    let n = db
        .exec(
            sql,
            &[
                &uuid,
                &ds.id,
                &s.name,
                &s.attributes.as_ref().map(|a| a.to_string()),
                &Value::Object(s.metadata.clone()).to_string(),
                &s.priority,
                &s.readme,
                &s.assigned_labeler,
                &s.assigned_reviewer,
                &at,
                &actor,
            ],
        )
        .await
        .map_err(on_conflict(|| {
            format!(
                "A sample named {} already exists in {}.",
                s.name, ds.full_name
            )
        }))?;
    Ok((n == 1).then_some(uuid))
}

pub(crate) async fn create_many(
    db: &impl Db,
    ds: &DatasetRef,
    samples: &[NewSample],
    actor: &str,
    skip_existing: bool,
) -> Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(samples.len());
    for s in samples {
        match insert(db, ds, s, actor, skip_existing).await? {
            Some(uuid) => {
                let sample = view(db, &uuid, &ds.full_name).await?;
                db.emit(&events::sample_event(
                    EventType::SampleCreated,
                    &sample,
                    now().0,
                ))
                .await?;
                out.push(sample);
            }
            None => {
                let existing: String = db
                    .one(
                        "SELECT uuid FROM samples WHERE dataset_id = $1 AND name = $2",
                        &[&ds.id, &s.name],
                        |r| r.get("uuid"),
                    )
                    .await?;
                out.push(view(db, &existing, &ds.full_name).await?);
            }
        }
    }
    Ok(out)
}

async fn check_user(db: &impl Db, name: &str) -> Result<()> {
    let exists = db
        .opt(
            "SELECT id FROM accounts WHERE name = $1 AND NOT is_org",
            &[&name],
            |_| Ok(()),
        )
        .await?;
    match exists {
        Some(()) => Ok(()),
        None => Err(Error::invalid(
            "unknown_user",
            format!("User {name} does not exist."),
        )),
    }
}

pub(crate) async fn update(db: &impl Db, s: &SampleRef, p: &SamplePatch) -> Result<Sample> {
    lock(db, &s.uuid).await?;
    let mut cur = view(db, &s.uuid, &s.dataset.full_name).await?;
    for user in p.assignees() {
        check_user(db, user).await?;
    }
    p.apply_to(&mut cur);
    let (_, at) = now();
    db.exec(
        "UPDATE samples SET name = $2, attributes = $3, metadata = $4, priority = $5, readme = $6,
             assigned_labeler = $7, assigned_reviewer = $8, updated_at = $9 WHERE uuid = $1",
        &[
            &s.uuid,
            &cur.name,
            &cur.attributes.as_ref().map(|a| a.to_string()),
            &Value::Object(cur.metadata.clone()).to_string(),
            &cur.priority,
            &cur.readme,
            &cur.assigned_labeler,
            &cur.assigned_reviewer,
            &at,
        ],
    )
    .await
    .map_err(on_conflict(|| {
        format!(
            "A sample named {} already exists in {}.",
            cur.name, s.dataset.full_name
        )
    }))?;
    let sample = view(db, &s.uuid, &s.dataset.full_name).await?;
    db.emit(&events::sample_event(
        EventType::SampleUpdated,
        &sample,
        now().0,
    ))
    .await?;
    Ok(sample)
}

pub(crate) async fn delete_many(db: &impl Db, ds: &DatasetRef, uuids: &[String]) -> Result<u64> {
    // Where writers are concurrent, every row is locked before the first event takes the
    // outbox lock (always row locks first, then the outbox lock), in one order, so two bulk
    // deletes cannot deadlock.
    let lock = db.dialect().lock_for_delete();
    if !lock.is_empty() && !uuids.is_empty() {
        let list: Vec<String> = (2..uuids.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT uuid FROM samples WHERE dataset_id = $1 AND uuid IN ({}) ORDER BY uuid{lock}",
            list.join(", ")
        );
        let mut params: Vec<&dyn Arg> = vec![&ds.id];
        params.extend(uuids.iter().map(|u| u as &dyn Arg));
        db.rows(&sql, &params, |_| Ok(())).await?;
    }
    let mut n = 0;
    for uuid in uuids {
        let owner: Option<i64> = db
            .opt(
                "SELECT dataset_id FROM samples WHERE uuid = $1",
                &[uuid],
                |r| r.get("dataset_id"),
            )
            .await?;
        if owner != Some(ds.id) {
            continue;
        }
        let last = view(db, uuid, &ds.full_name).await?;
        db.exec("DELETE FROM samples WHERE uuid = $1", &[uuid])
            .await?;
        db.emit(&events::sample_event(
            EventType::SampleDeleted,
            &last,
            now().0,
        ))
        .await?;
        n += 1;
    }
    Ok(n)
}

/// Copies every sample (and, with `labels`, every label) of one dataset into another, with the
/// events a user would expect of new samples and labels.
pub(crate) async fn copy_all(
    db: &impl Db,
    from: i64,
    to: i64,
    labels: bool,
    actor: &str,
) -> Result<()> {
    let src = datasets::by_id(db, from).await?;
    let dst = datasets::by_id(db, to).await?;
    let uuids: Vec<String> = db
        .rows(
            "SELECT uuid FROM samples WHERE dataset_id = $1 ORDER BY name",
            &[&from],
            |r| r.get("uuid"),
        )
        .await?;
    for uuid in uuids {
        let s = view(db, &uuid, &src.full_name).await?;
        let new = NewSample {
            name: s.name.clone(),
            attributes: s.attributes.clone(),
            metadata: s.metadata.clone(),
            priority: s.priority,
            readme: s.readme.clone(),
            assigned_labeler: s.assigned_labeler.clone(),
            assigned_reviewer: s.assigned_reviewer.clone(),
        };
        let created = create_many(db, &dst, &[new], actor, false).await?;
        let Some(copy) = created.first() else {
            continue;
        };
        if !labels {
            continue;
        }
        let src_ref = SampleRef {
            uuid: uuid.clone(),
            name: s.name.clone(),
            dataset: src.clone(),
        };
        let dst_ref = SampleRef {
            uuid: copy.uuid.clone(),
            name: copy.name.clone(),
            dataset: dst.clone(),
        };
        let sets: Vec<String> = db
            .rows(
                "SELECT labelset FROM labels WHERE sample_uuid = $1",
                &[&uuid],
                |r| r.get("labelset"),
            )
            .await?;
        for ls in sets {
            if let Some(l) = label_of(db, &src_ref, &ls).await? {
                let input = LabelInput {
                    label_status: Some(l.label_status),
                    attributes: Some(l.attributes.clone()),
                    score: Some(l.score),
                };
                put_label(db, &dst_ref, &ls, &input, true, &l.created_by).await?;
            }
        }
    }
    Ok(())
}

// ---- labels --------------------------------------------------------------------------

pub(crate) async fn label_of(db: &impl Db, s: &SampleRef, labelset: &str) -> Result<Option<Label>> {
    db.opt(
        "SELECT label_status, attributes, score, rating, created_at, created_by, updated_at,
                updated_by, reviewed_at, reviewed_by
         FROM labels WHERE sample_uuid = $1 AND labelset = $2",
        &[&s.uuid, &labelset],
        |r| {
            let attributes: Option<String> = r.get("attributes")?;
            Ok(from_cols!(r => Label {
                score, rating, created_at, created_by, updated_at, updated_by, reviewed_at,
                reviewed_by,
                sample_uuid: s.uuid.clone(),
                label_type: s.dataset.task_type,
                label_status: LabelStatus::parse(&r.get::<String>("label_status")?)?,
                labelset: labelset.to_owned(),
                attributes: attributes.as_deref().map(json_of).transpose()?,
                sample_name: s.name.clone(),
            }))
        },
    )
    .await
}

pub(crate) async fn get_label(db: &impl Db, s: &SampleRef, labelset: &str) -> Result<Label> {
    datasets::labelset(db, &s.dataset, labelset).await?;
    label_of(db, s, labelset)
        .await?
        .ok_or_else(Error::not_found)
}

pub(crate) async fn put_label(
    db: &impl Db,
    s: &SampleRef,
    labelset: &str,
    input: &LabelInput,
    replace: bool,
    actor: &str,
) -> Result<Label> {
    datasets::labelset(db, &s.dataset, labelset).await?;
    lock(db, &s.uuid).await?;
    let (_, at) = now();
    let existing = label_of(db, s, labelset).await?;
    let w = input.resolve(existing.as_ref(), replace, actor, &at)?;
    let attributes_text = w.attributes.as_ref().map(|a| a.to_string());
    let sql = match &existing {
        None => {
            "INSERT INTO labels (sample_uuid, labelset, label_status, attributes, score, created_at,
                 created_by, updated_at, updated_by, reviewed_at, reviewed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7, $8, $9)"
        }
        Some(_) => {
            "UPDATE labels SET label_status = $3, attributes = $4, score = $5, updated_at = $6,
                 updated_by = $7, reviewed_at = $8, reviewed_by = $9
             WHERE sample_uuid = $1 AND labelset = $2"
        }
    };
    db.exec(
        sql,
        &[
            &s.uuid,
            &labelset,
            &w.label_status.as_str(),
            &attributes_text,
            &w.score,
            &at,
            &actor,
            &w.reviewed_at,
            &w.reviewed_by,
        ],
    )
    .await?;
    let label = label_of(db, s, labelset)
        .await?
        .ok_or_else(Error::not_found)?;
    db.emit(&events::label_event(
        EventType::LabelUpdated,
        &label,
        &s.dataset.full_name,
        now().0,
    ))
    .await?;
    Ok(label)
}

pub(crate) async fn delete_label(db: &impl Db, s: &SampleRef, labelset: &str) -> Result<()> {
    lock(db, &s.uuid).await?;
    let last = get_label(db, s, labelset).await?;
    db.exec(
        "DELETE FROM labels WHERE sample_uuid = $1 AND labelset = $2",
        &[&s.uuid, &labelset],
    )
    .await?;
    db.emit(&events::label_event(
        EventType::LabelDeleted,
        &last,
        &s.dataset.full_name,
        now().0,
    ))
    .await
}
