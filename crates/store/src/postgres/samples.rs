//! Samples and their labels (PostgreSQL).

use serde_json::Value;
use tokio_postgres::Row;

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, EventType};
use datahooks_domain::inputs::{LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{Label, LabelStatus, Sample};

use super::{datasets, exec, json_of, new_uuid, now, on_conflict, one, opt, outbox, rows, Tx};
use super::{rows_dyn, Args};
use crate::{DatasetRef, Error, Result, SampleQuery, SampleRef, SampleSort};

const SAMPLE_COLS: &str = "s.uuid, s.name, s.attributes, s.metadata, s.priority, s.readme,
    s.assigned_labeler, s.assigned_reviewer, s.created_at, s.created_by, s.updated_at";

fn sample_row(r: &Row, dataset: &str) -> Result<Sample> {
    let attributes: Option<String> = r.try_get(2)?;
    let metadata: String = r.try_get(3)?;
    Ok(Sample {
        uuid: r.try_get(0)?,
        name: r.try_get(1)?,
        attributes: attributes.as_deref().map(json_of).transpose()?,
        metadata: match json_of(&metadata)? {
            Value::Object(m) => m,
            _ => Default::default(),
        },
        priority: r.try_get(4)?,
        readme: r.try_get(5)?,
        assigned_labeler: r.try_get(6)?,
        assigned_reviewer: r.try_get(7)?,
        created_at: r.try_get(8)?,
        created_by: r.try_get(9)?,
        updated_at: r.try_get(10)?,
        dataset_full_name: dataset.to_owned(),
        dataset: dataset.to_owned(),
        label: None,
    })
}

pub(crate) async fn view(tx: &Tx<'_>, uuid: &str, dataset: &str) -> Result<Sample> {
    let row = one(
        tx,
        &format!("SELECT {SAMPLE_COLS} FROM samples s WHERE s.uuid = $1"),
        &[&uuid],
    )
    .await?;
    sample_row(&row, dataset)
}

/// Locks a sample's row until the transaction ends, so read-change-write sequences on it (and
/// on its labels) run one after the other, as under SQLite's single writer.
async fn lock(tx: &Tx<'_>, uuid: &str) -> Result<()> {
    exec(
        tx,
        "SELECT 1 FROM samples WHERE uuid = $1 FOR NO KEY UPDATE",
        &[&uuid],
    )
    .await?;
    Ok(())
}

pub(crate) async fn find(tx: &Tx<'_>, caller: i64, uuid: &str) -> Result<(SampleRef, Access)> {
    let row = one(
        tx,
        "SELECT name, dataset_id FROM samples WHERE uuid = $1",
        &[&uuid],
    )
    .await?;
    let name: String = row.try_get(0)?;
    let dataset_id: i64 = row.try_get(1)?;
    let ds = datasets::by_id(tx, dataset_id).await?;
    let access = datasets::access(tx, caller, &ds).await?;
    if access == Access::None {
        return Err(Error::not_found());
    }
    Ok((
        SampleRef {
            uuid: uuid.to_owned(),
            name,
            dataset: ds,
        },
        access,
    ))
}

pub(crate) async fn get(tx: &Tx<'_>, s: &SampleRef, labelset: Option<&str>) -> Result<Sample> {
    let mut sample = view(tx, &s.uuid, &s.dataset.full_name).await?;
    if let Some(ls) = labelset {
        datasets::labelset(tx, &s.dataset, ls).await?;
        sample.label = label_of(tx, s, ls)
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

pub(crate) async fn list(tx: &Tx<'_>, ds: &DatasetRef, q: &SampleQuery) -> Result<Vec<Sample>> {
    let mut sql = format!(
        "SELECT {SAMPLE_COLS} FROM samples s
         LEFT JOIN labels l ON l.sample_uuid = s.uuid AND l.labelset = $1
         LEFT JOIN labels gt ON gt.sample_uuid = s.uuid AND gt.labelset = 'ground-truth'
         WHERE s.dataset_id = $2"
    );
    let mut args: Args = vec![Box::new(q.labelset.clone()), Box::new(ds.id)];
    if let Some(sub) = &q.name_contains {
        // SQLite's LIKE ignores the case of ASCII letters (only): fold both sides the same way.
        args.push(Box::new(
            format!("%{}%", escape_like(sub)).to_ascii_lowercase(),
        ));
        sql += &format!(
            " AND datahooks_lower_ascii(s.name) LIKE ${} ESCAPE '\\'",
            args.len()
        );
    }
    for (key, value) in &q.metadata {
        args.push(Box::new(key.replace('"', "")));
        let k = args.len();
        args.push(Box::new(value.clone()));
        sql += &format!(
            " AND datahooks_json_text(s.metadata::jsonb -> ${k}::text) = ${}::text",
            args.len()
        );
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
    // SQLite sorts NULL (an unlabeled sample's label time) before everything; PostgreSQL
    // after, unless told.
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
    let found = rows_dyn(tx, &sql, &args).await?;
    let mut out = Vec::with_capacity(found.len());
    for row in &found {
        out.push(sample_row(row, &ds.full_name)?);
    }
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
            s.label = match label_of(tx, &r, &q.labelset).await? {
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
    tx: &Tx<'_>,
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
    let stmt = tx.prepare_cached(sql).await?;
    let n = tx
        .execute(
            &stmt,
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
        .map_err(|e| {
            on_conflict(e, || {
                format!(
                    "A sample named {} already exists in {}.",
                    s.name, ds.full_name
                )
            })
        })?;
    Ok((n == 1).then_some(uuid))
}

pub(crate) async fn create_many(
    tx: &Tx<'_>,
    ds: &DatasetRef,
    samples: &[NewSample],
    actor: &str,
    skip_existing: bool,
) -> Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(samples.len());
    for s in samples {
        match insert(tx, ds, s, actor, skip_existing).await? {
            Some(uuid) => {
                let sample = view(tx, &uuid, &ds.full_name).await?;
                outbox::emit(
                    tx,
                    &events::sample_event(EventType::SampleCreated, &sample, now().0),
                )
                .await?;
                out.push(sample);
            }
            None => {
                let existing: String = one(
                    tx,
                    "SELECT uuid FROM samples WHERE dataset_id = $1 AND name = $2",
                    &[&ds.id, &s.name],
                )
                .await?
                .try_get(0)?;
                out.push(view(tx, &existing, &ds.full_name).await?);
            }
        }
    }
    Ok(out)
}

async fn check_user(tx: &Tx<'_>, name: &Option<String>) -> Result<()> {
    if let Some(n) = name {
        let exists = opt(
            tx,
            "SELECT id FROM accounts WHERE name = $1 AND NOT is_org",
            &[n],
        )
        .await?;
        if exists.is_none() {
            return Err(Error::invalid(
                "unknown_user",
                format!("User {n} does not exist."),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn update(tx: &Tx<'_>, s: &SampleRef, p: &SamplePatch) -> Result<Sample> {
    lock(tx, &s.uuid).await?;
    let mut cur = view(tx, &s.uuid, &s.dataset.full_name).await?;
    for user in p.assignees() {
        check_user(tx, &Some(user.clone())).await?;
    }
    p.apply_to(&mut cur);
    let (_, at) = now();
    let stmt = tx
        .prepare_cached(
            "UPDATE samples SET name = $2, attributes = $3, metadata = $4, priority = $5, readme = $6,
                 assigned_labeler = $7, assigned_reviewer = $8, updated_at = $9 WHERE uuid = $1",
        )
        .await?;
    tx.execute(
        &stmt,
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
    .map_err(|e| {
        on_conflict(e, || {
            format!(
                "A sample named {} already exists in {}.",
                cur.name, s.dataset.full_name
            )
        })
    })?;
    let sample = view(tx, &s.uuid, &s.dataset.full_name).await?;
    outbox::emit(
        tx,
        &events::sample_event(EventType::SampleUpdated, &sample, now().0),
    )
    .await?;
    Ok(sample)
}

pub(crate) async fn delete_many(tx: &Tx<'_>, ds: &DatasetRef, uuids: &[String]) -> Result<u64> {
    // Every row is locked before the first event takes the outbox lock (always row locks
    // first, then the outbox lock), in one order, so two bulk deletes cannot deadlock.
    exec(
        tx,
        "SELECT 1 FROM (SELECT uuid FROM samples WHERE uuid = ANY($1) AND dataset_id = $2
             ORDER BY uuid FOR UPDATE) locked",
        &[&uuids, &ds.id],
    )
    .await?;
    let mut n = 0;
    for uuid in uuids {
        let owner: Option<i64> = opt(
            tx,
            "SELECT dataset_id FROM samples WHERE uuid = $1 FOR UPDATE",
            &[uuid],
        )
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        if owner != Some(ds.id) {
            continue;
        }
        let last = view(tx, uuid, &ds.full_name).await?;
        exec(tx, "DELETE FROM samples WHERE uuid = $1", &[uuid]).await?;
        outbox::emit(
            tx,
            &events::sample_event(EventType::SampleDeleted, &last, now().0),
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// Copies every sample (and, with `labels`, every label) of one dataset into another, with the
/// events a user would expect of new samples and labels.
pub(crate) async fn copy_all(
    tx: &Tx<'_>,
    from: i64,
    to: i64,
    labels: bool,
    actor: &str,
) -> Result<()> {
    let src = datasets::by_id(tx, from).await?;
    let dst = datasets::by_id(tx, to).await?;
    let uuids: Vec<String> = rows(
        tx,
        "SELECT uuid FROM samples WHERE dataset_id = $1 ORDER BY name",
        &[&from],
    )
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<std::result::Result<_, _>>()?;
    for uuid in uuids {
        let s = view(tx, &uuid, &src.full_name).await?;
        let new = NewSample {
            name: s.name.clone(),
            attributes: s.attributes.clone(),
            metadata: s.metadata.clone(),
            priority: s.priority,
            readme: s.readme.clone(),
            assigned_labeler: s.assigned_labeler.clone(),
            assigned_reviewer: s.assigned_reviewer.clone(),
        };
        let created = create_many(tx, &dst, &[new], actor, false).await?;
        let Some(copy) = created.first() else {
            continue;
        };
        if labels {
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
            let sets: Vec<String> = rows(
                tx,
                "SELECT labelset FROM labels WHERE sample_uuid = $1",
                &[&uuid],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
            for ls in sets {
                if let Some(l) = label_of(tx, &src_ref, &ls).await? {
                    let input = LabelInput {
                        label_status: Some(l.label_status),
                        attributes: Some(l.attributes.clone()),
                        score: Some(l.score),
                    };
                    put_label(tx, &dst_ref, &ls, &input, true, &l.created_by).await?;
                }
            }
        }
    }
    Ok(())
}

// ---- labels --------------------------------------------------------------------------

pub(crate) async fn label_of(tx: &Tx<'_>, s: &SampleRef, labelset: &str) -> Result<Option<Label>> {
    let Some(r) = opt(
        tx,
        "SELECT label_status, attributes, score, rating, created_at, created_by, updated_at,
                updated_by, reviewed_at, reviewed_by
         FROM labels WHERE sample_uuid = $1 AND labelset = $2",
        &[&s.uuid, &labelset],
    )
    .await?
    else {
        return Ok(None);
    };
    let status: String = r.try_get(0)?;
    let attributes: Option<String> = r.try_get(1)?;
    Ok(Some(Label {
        sample_uuid: s.uuid.clone(),
        label_type: s.dataset.task_type,
        label_status: LabelStatus::parse(&status)?,
        labelset: labelset.to_owned(),
        attributes: attributes.as_deref().map(json_of).transpose()?,
        score: r.try_get(2)?,
        rating: r.try_get(3)?,
        created_at: r.try_get(4)?,
        created_by: r.try_get(5)?,
        updated_at: r.try_get(6)?,
        updated_by: r.try_get(7)?,
        reviewed_at: r.try_get(8)?,
        reviewed_by: r.try_get(9)?,
        sample_name: s.name.clone(),
    }))
}

pub(crate) async fn get_label(tx: &Tx<'_>, s: &SampleRef, labelset: &str) -> Result<Label> {
    datasets::labelset(tx, &s.dataset, labelset).await?;
    label_of(tx, s, labelset)
        .await?
        .ok_or_else(Error::not_found)
}

pub(crate) async fn put_label(
    tx: &Tx<'_>,
    s: &SampleRef,
    labelset: &str,
    input: &LabelInput,
    replace: bool,
    actor: &str,
) -> Result<Label> {
    datasets::labelset(tx, &s.dataset, labelset).await?;
    lock(tx, &s.uuid).await?;
    let (_, at) = now();
    let existing = label_of(tx, s, labelset).await?;
    let w = input.resolve(existing.as_ref(), replace, actor, &at)?;
    let (status, attributes, score, reviewed_at, reviewed_by) = (
        w.label_status,
        w.attributes,
        w.score,
        w.reviewed_at,
        w.reviewed_by,
    );
    let attributes_text = attributes.as_ref().map(|a| a.to_string());
    match &existing {
        None => {
            exec(
                tx,
                "INSERT INTO labels (sample_uuid, labelset, label_status, attributes, score, created_at,
                     created_by, updated_at, updated_by, reviewed_at, reviewed_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7, $8, $9)",
                &[
                    &s.uuid,
                    &labelset,
                    &status.as_str(),
                    &attributes_text,
                    &score,
                    &at,
                    &actor,
                    &reviewed_at,
                    &reviewed_by,
                ],
            )
            .await?;
        }
        Some(_) => {
            exec(
                tx,
                "UPDATE labels SET label_status = $3, attributes = $4, score = $5, updated_at = $6,
                     updated_by = $7, reviewed_at = $8, reviewed_by = $9
                 WHERE sample_uuid = $1 AND labelset = $2",
                &[
                    &s.uuid,
                    &labelset,
                    &status.as_str(),
                    &attributes_text,
                    &score,
                    &at,
                    &actor,
                    &reviewed_at,
                    &reviewed_by,
                ],
            )
            .await?;
        }
    }
    let label = label_of(tx, s, labelset)
        .await?
        .ok_or_else(Error::not_found)?;
    outbox::emit(
        tx,
        &events::label_event(
            EventType::LabelUpdated,
            &label,
            &s.dataset.full_name,
            now().0,
        ),
    )
    .await?;
    Ok(label)
}

pub(crate) async fn delete_label(tx: &Tx<'_>, s: &SampleRef, labelset: &str) -> Result<()> {
    lock(tx, &s.uuid).await?;
    let last = get_label(tx, s, labelset).await?;
    exec(
        tx,
        "DELETE FROM labels WHERE sample_uuid = $1 AND labelset = $2",
        &[&s.uuid, &labelset],
    )
    .await?;
    outbox::emit(
        tx,
        &events::label_event(
            EventType::LabelDeleted,
            &last,
            &s.dataset.full_name,
            now().0,
        ),
    )
    .await
}
