//! Samples and their labels.

use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};
use serde_json::Value;

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, EventType};
use datahooks_domain::inputs::{LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{Label, LabelStatus, Sample};

use super::{datasets, json_of, new_uuid, now, on_conflict, outbox};
use crate::{DatasetRef, Error, Result, SampleQuery, SampleRef, SampleSort};

const SAMPLE_COLS: &str = "s.uuid, s.name, s.attributes, s.metadata, s.priority, s.readme,
    s.assigned_labeler, s.assigned_reviewer, s.created_at, s.created_by, s.updated_at";

fn sample_row(
    r: &rusqlite::Row<'_>,
    dataset: &str,
) -> rusqlite::Result<(Sample, Option<String>, String)> {
    let attributes: Option<String> = r.get(2)?;
    let metadata: String = r.get(3)?;
    Ok((
        Sample {
            uuid: r.get(0)?,
            name: r.get(1)?,
            attributes: None,
            metadata: Default::default(),
            priority: r.get(4)?,
            readme: r.get(5)?,
            assigned_labeler: r.get(6)?,
            assigned_reviewer: r.get(7)?,
            created_at: r.get(8)?,
            created_by: r.get(9)?,
            updated_at: r.get(10)?,
            dataset_full_name: dataset.to_owned(),
            dataset: dataset.to_owned(),
            label: None,
        },
        attributes,
        metadata,
    ))
}

fn finish_sample(
    (mut s, attributes, metadata): (Sample, Option<String>, String),
) -> Result<Sample> {
    s.attributes = attributes.as_deref().map(json_of).transpose()?;
    s.metadata = match json_of(&metadata)? {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    Ok(s)
}

pub(crate) fn view(tx: &Transaction<'_>, uuid: &str, dataset: &str) -> Result<Sample> {
    let row = tx
        .query_row(
            &format!("SELECT {SAMPLE_COLS} FROM samples s WHERE s.uuid = ?1"),
            [uuid],
            |r| sample_row(r, dataset),
        )
        .optional()?
        .ok_or_else(Error::not_found)?;
    finish_sample(row)
}

pub(crate) fn find(tx: &Transaction<'_>, caller: i64, uuid: &str) -> Result<(SampleRef, Access)> {
    let (name, dataset_id): (String, i64) = tx
        .query_row(
            "SELECT name, dataset_id FROM samples WHERE uuid = ?1",
            [uuid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(Error::not_found)?;
    let ds = datasets::by_id(tx, dataset_id)?;
    let access = datasets::access(tx, caller, &ds)?;
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

pub(crate) fn get(tx: &Transaction<'_>, s: &SampleRef, labelset: Option<&str>) -> Result<Sample> {
    let mut sample = view(tx, &s.uuid, &s.dataset.full_name)?;
    if let Some(ls) = labelset {
        datasets::labelset(tx, &s.dataset, ls)?;
        sample.label = label_of(tx, s, ls)?.map(serde_json::to_value).transpose()?;
    }
    Ok(sample)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn list(tx: &Transaction<'_>, ds: &DatasetRef, q: &SampleQuery) -> Result<Vec<Sample>> {
    let mut sql = format!(
        "SELECT {SAMPLE_COLS} FROM samples s
         LEFT JOIN labels l ON l.sample_uuid = s.uuid AND l.labelset = ?1
         LEFT JOIN labels gt ON gt.sample_uuid = s.uuid AND gt.labelset = 'ground-truth'
         WHERE s.dataset_id = ?2"
    );
    let mut args: Vec<rusqlite::types::Value> = vec![q.labelset.clone().into(), ds.id.into()];
    if let Some(sub) = &q.name_contains {
        args.push(format!("%{}%", escape_like(sub)).into());
        sql += &format!(" AND s.name LIKE ?{} ESCAPE '\\'", args.len());
    }
    for (key, value) in &q.metadata {
        args.push(format!("$.\"{}\"", key.replace('"', "")).into());
        let k = args.len();
        args.push(value.clone().into());
        sql += &format!(
            " AND CAST(json_extract(s.metadata, ?{k}) AS TEXT) = ?{}",
            args.len()
        );
    }
    if !q.label_status.is_empty() {
        let mut parts = Vec::new();
        for status in &q.label_status {
            if *status == LabelStatus::Unlabeled {
                parts.push("l.label_status IS NULL".to_owned());
            } else {
                args.push(status.as_str().to_owned().into());
                parts.push(format!("l.label_status = ?{}", args.len()));
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
    let dir = if q.descending { "DESC" } else { "ASC" };
    sql += &format!(
        " ORDER BY {key} {dir}, s.name {dir}, s.uuid LIMIT {} OFFSET {}",
        q.page.per_page,
        q.page.offset()
    );
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| sample_row(r, &ds.full_name))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(finish_sample(row?)?);
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
            s.label = match label_of(tx, &r, &q.labelset)? {
                Some(l) if full => Some(serde_json::to_value(l)?),
                Some(l) => Some(l.summary()),
                None => None,
            };
        }
    }
    Ok(out)
}

fn insert(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    s: &NewSample,
    actor: &str,
    created_at: Option<&str>,
) -> Result<String> {
    let uuid = new_uuid();
    let (_, at) = now();
    tx.execute(
        "INSERT INTO samples (uuid, dataset_id, name, attributes, metadata, priority, readme,
             assigned_labeler, assigned_reviewer, created_at, created_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            uuid,
            ds.id,
            s.name,
            s.attributes.as_ref().map(|a| a.to_string()),
            Value::Object(s.metadata.clone()).to_string(),
            s.priority,
            s.readme,
            s.assigned_labeler,
            s.assigned_reviewer,
            created_at.unwrap_or(&at),
            actor,
            at
        ],
    )
    .map_err(|e| {
        on_conflict(e, || {
            format!(
                "A sample named {} already exists in {}.",
                s.name, ds.full_name
            )
        })
    })?;
    Ok(uuid)
}

pub(crate) fn create_many(
    tx: &Transaction<'_>,
    ds: &DatasetRef,
    samples: &[NewSample],
    actor: &str,
    skip_existing: bool,
) -> Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(samples.len());
    for s in samples {
        if skip_existing {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT uuid FROM samples WHERE dataset_id = ?1 AND name = ?2",
                    params![ds.id, s.name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(uuid) = existing {
                out.push(view(tx, &uuid, &ds.full_name)?);
                continue;
            }
        }
        let uuid = insert(tx, ds, s, actor, None)?;
        let sample = view(tx, &uuid, &ds.full_name)?;
        outbox::emit(
            tx,
            &events::sample_event(EventType::SampleCreated, &sample, now().0),
        )?;
        out.push(sample);
    }
    Ok(out)
}

fn check_user(tx: &Transaction<'_>, name: &Option<String>) -> Result<()> {
    if let Some(n) = name {
        let exists: Option<i64> = tx
            .query_row(
                "SELECT id FROM accounts WHERE name = ?1 AND is_org = 0",
                [n],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(Error::invalid(
                "unknown_user",
                format!("User {n} does not exist."),
            ));
        }
    }
    Ok(())
}

pub(crate) fn update(tx: &Transaction<'_>, s: &SampleRef, p: &SamplePatch) -> Result<Sample> {
    let mut cur = view(tx, &s.uuid, &s.dataset.full_name)?;
    for user in p.assignees() {
        check_user(tx, &Some(user.clone()))?;
    }
    p.apply_to(&mut cur);
    let (_, at) = now();
    tx.execute(
        "UPDATE samples SET name = ?2, attributes = ?3, metadata = ?4, priority = ?5, readme = ?6,
             assigned_labeler = ?7, assigned_reviewer = ?8, updated_at = ?9 WHERE uuid = ?1",
        params![
            s.uuid,
            cur.name,
            cur.attributes.as_ref().map(|a| a.to_string()),
            Value::Object(cur.metadata.clone()).to_string(),
            cur.priority,
            cur.readme,
            cur.assigned_labeler,
            cur.assigned_reviewer,
            at
        ],
    )
    .map_err(|e| {
        on_conflict(e, || {
            format!(
                "A sample named {} already exists in {}.",
                cur.name, s.dataset.full_name
            )
        })
    })?;
    let sample = view(tx, &s.uuid, &s.dataset.full_name)?;
    outbox::emit(
        tx,
        &events::sample_event(EventType::SampleUpdated, &sample, now().0),
    )?;
    Ok(sample)
}

pub(crate) fn delete_many(tx: &Transaction<'_>, ds: &DatasetRef, uuids: &[String]) -> Result<u64> {
    let mut n = 0;
    for uuid in uuids {
        let exists: Option<i64> = tx
            .query_row(
                "SELECT dataset_id FROM samples WHERE uuid = ?1",
                [uuid],
                |r| r.get(0),
            )
            .optional()?;
        if exists != Some(ds.id) {
            continue;
        }
        let last = view(tx, uuid, &ds.full_name)?;
        tx.execute("DELETE FROM samples WHERE uuid = ?1", [uuid])?;
        outbox::emit(
            tx,
            &events::sample_event(EventType::SampleDeleted, &last, now().0),
        )?;
        n += 1;
    }
    Ok(n)
}

/// Copies every sample (and, with `labels`, every label) of one dataset into another, with the
/// events a user would expect of new samples and labels.
pub(crate) fn copy_all(
    tx: &Transaction<'_>,
    from: i64,
    to: i64,
    labels: bool,
    actor: &str,
) -> Result<()> {
    let src = datasets::by_id(tx, from)?;
    let dst = datasets::by_id(tx, to)?;
    let uuids: Vec<String> = {
        let mut stmt =
            tx.prepare("SELECT uuid FROM samples WHERE dataset_id = ?1 ORDER BY name")?;
        let rows = stmt.query_map([from], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for uuid in uuids {
        let s = view(tx, &uuid, &src.full_name)?;
        let new = NewSample {
            name: s.name.clone(),
            attributes: s.attributes.clone(),
            metadata: s.metadata.clone(),
            priority: s.priority,
            readme: s.readme.clone(),
            assigned_labeler: s.assigned_labeler.clone(),
            assigned_reviewer: s.assigned_reviewer.clone(),
        };
        let created = create_many(tx, &dst, &[new], actor, false)?;
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
            let sets: Vec<String> = {
                let mut stmt = tx.prepare("SELECT labelset FROM labels WHERE sample_uuid = ?1")?;
                let rows = stmt.query_map([&uuid], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for ls in sets {
                if let Some(l) = label_of(tx, &src_ref, &ls)? {
                    let input = LabelInput {
                        label_status: Some(l.label_status),
                        attributes: Some(l.attributes.clone()),
                        score: Some(l.score),
                    };
                    put_label(tx, &dst_ref, &ls, &input, true, &l.created_by)?;
                }
            }
        }
    }
    Ok(())
}

// ---- labels --------------------------------------------------------------------------

pub(crate) fn label_of(
    tx: &Transaction<'_>,
    s: &SampleRef,
    labelset: &str,
) -> Result<Option<Label>> {
    let row = tx
        .query_row(
            "SELECT label_status, attributes, score, rating, created_at, created_by, updated_at,
                    updated_by, reviewed_at, reviewed_by
             FROM labels WHERE sample_uuid = ?1 AND labelset = ?2",
            params![s.uuid, labelset],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                    r.get::<_, Option<f64>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            },
        )
        .optional()?;
    let Some((
        status,
        attributes,
        score,
        rating,
        created_at,
        created_by,
        updated_at,
        updated_by,
        reviewed_at,
        reviewed_by,
    )) = row
    else {
        return Ok(None);
    };
    Ok(Some(Label {
        sample_uuid: s.uuid.clone(),
        label_type: s.dataset.task_type,
        label_status: LabelStatus::parse(&status)?,
        labelset: labelset.to_owned(),
        attributes: attributes.as_deref().map(json_of).transpose()?,
        score,
        rating,
        created_at,
        created_by,
        updated_at,
        updated_by,
        reviewed_at,
        reviewed_by,
        sample_name: s.name.clone(),
    }))
}

pub(crate) fn get_label(tx: &Transaction<'_>, s: &SampleRef, labelset: &str) -> Result<Label> {
    datasets::labelset(tx, &s.dataset, labelset)?;
    label_of(tx, s, labelset)?.ok_or_else(Error::not_found)
}

pub(crate) fn put_label(
    tx: &Transaction<'_>,
    s: &SampleRef,
    labelset: &str,
    input: &LabelInput,
    replace: bool,
    actor: &str,
) -> Result<Label> {
    datasets::labelset(tx, &s.dataset, labelset)?;
    let (_, at) = now();
    let existing = label_of(tx, s, labelset)?;
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
            tx.execute(
                "INSERT INTO labels (sample_uuid, labelset, label_status, attributes, score, created_at,
                     created_by, updated_at, updated_by, reviewed_at, reviewed_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6, ?7, ?8, ?9)",
                params![s.uuid, labelset, status.as_str(), attributes_text, score, at, actor, reviewed_at, reviewed_by],
            )?;
        }
        Some(_) => {
            tx.execute(
                "UPDATE labels SET label_status = ?3, attributes = ?4, score = ?5, updated_at = ?6,
                     updated_by = ?7, reviewed_at = ?8, reviewed_by = ?9
                 WHERE sample_uuid = ?1 AND labelset = ?2",
                params![
                    s.uuid,
                    labelset,
                    status.as_str(),
                    attributes_text,
                    score,
                    at,
                    actor,
                    reviewed_at,
                    reviewed_by
                ],
            )?;
        }
    }
    let label = label_of(tx, s, labelset)?.ok_or_else(Error::not_found)?;
    outbox::emit(
        tx,
        &events::label_event(
            EventType::LabelUpdated,
            &label,
            &s.dataset.full_name,
            now().0,
        ),
    )?;
    Ok(label)
}

pub(crate) fn delete_label(tx: &Transaction<'_>, s: &SampleRef, labelset: &str) -> Result<()> {
    let last = get_label(tx, s, labelset)?;
    tx.execute(
        "DELETE FROM labels WHERE sample_uuid = ?1 AND labelset = ?2",
        params![s.uuid, labelset],
    )?;
    outbox::emit(
        tx,
        &events::label_event(
            EventType::LabelDeleted,
            &last,
            &s.dataset.full_name,
            now().0,
        ),
    )
}
