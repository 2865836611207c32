//! Issues raised on samples, and their replies.

use rusqlite::{params, OptionalExtension, Transaction};

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, IssueChange};
use datahooks_domain::inputs::IssueInput;
use datahooks_domain::model::{Comment, Issue, IssueStatus};

use super::{datasets, json_of, new_uuid, now, outbox};
use crate::{DatasetRef, Error, IssueRef, Result, SampleRef};

const ISSUE_SQL: &str = "SELECT i.uuid, i.description, i.created_at, i.updated_at, i.created_by,
    i.updated_by, i.status, i.comments, i.sample_uuid, s.name, i.anchor
    FROM issues i JOIN samples s ON s.uuid = i.sample_uuid";

type IssueRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

fn issue_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IssueRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn finish(row: IssueRow, dataset: &str) -> Result<Issue> {
    let (
        uuid,
        description,
        created_at,
        updated_at,
        created_by,
        updated_by,
        status,
        comments,
        sample_uuid,
        sample_name,
        anchor,
    ) = row;
    let comments: Vec<Comment> = serde_json::from_str(&comments)?;
    Ok(Issue {
        uuid,
        description,
        created_at,
        updated_at,
        created_by,
        updated_by,
        status: IssueStatus::parse(&status)?,
        comments,
        sample_uuid,
        sample_name,
        anchor: anchor.as_deref().map(json_of).transpose()?,
        dataset: dataset.to_owned(),
    })
}

pub(crate) fn view(tx: &Transaction<'_>, uuid: &str, dataset: &str) -> Result<Issue> {
    let row = tx
        .query_row(&format!("{ISSUE_SQL} WHERE i.uuid = ?1"), [uuid], issue_row)
        .optional()?
        .ok_or_else(Error::not_found)?;
    finish(row, dataset)
}

pub(crate) fn list(tx: &Transaction<'_>, ds: &DatasetRef) -> Result<Vec<Issue>> {
    let mut stmt = tx.prepare(&format!(
        "{ISSUE_SQL} WHERE i.dataset_id = ?1 ORDER BY i.created_at DESC, i.uuid"
    ))?;
    let rows = stmt.query_map([ds.id], issue_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(finish(row?, &ds.full_name)?);
    }
    Ok(out)
}

pub(crate) fn find(tx: &Transaction<'_>, caller: i64, uuid: &str) -> Result<(IssueRef, Access)> {
    let (dataset_id, created_by): (i64, String) = tx
        .query_row(
            "SELECT dataset_id, created_by FROM issues WHERE uuid = ?1",
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
        IssueRef {
            uuid: uuid.to_owned(),
            created_by,
            dataset: ds,
        },
        access,
    ))
}

pub(crate) fn create(
    tx: &Transaction<'_>,
    s: &SampleRef,
    input: &IssueInput,
    actor: &str,
) -> Result<Issue> {
    let uuid = new_uuid();
    let (_, at) = now();
    tx.execute(
        "INSERT INTO issues (uuid, dataset_id, sample_uuid, description, status, anchor, created_at,
             created_by, updated_at, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?8)",
        params![
            uuid,
            s.dataset.id,
            s.uuid,
            input.description.clone().unwrap_or_default(),
            input.status.unwrap_or(IssueStatus::Open).as_str(),
            input.anchor.clone().flatten().map(|a| a.to_string()),
            at,
            actor
        ],
    )?;
    let issue = view(tx, &uuid, &s.dataset.full_name)?;
    outbox::emit(
        tx,
        &events::issue_event(IssueChange::Created, &issue, now().0),
    )?;
    Ok(issue)
}

pub(crate) fn update(
    tx: &Transaction<'_>,
    i: &IssueRef,
    input: &IssueInput,
    actor: &str,
) -> Result<Issue> {
    let mut cur = view(tx, &i.uuid, &i.dataset.full_name)?;
    if let Some(d) = &input.description {
        cur.description = d.clone();
    }
    if let Some(s) = input.status {
        cur.status = s;
    }
    if let Some(a) = &input.anchor {
        cur.anchor = a.clone();
    }
    let (_, at) = now();
    tx.execute(
        "UPDATE issues SET description = ?2, status = ?3, anchor = ?4, updated_at = ?5, updated_by = ?6 WHERE uuid = ?1",
        params![i.uuid, cur.description, cur.status.as_str(), cur.anchor.as_ref().map(|a| a.to_string()), at, actor],
    )?;
    let issue = view(tx, &i.uuid, &i.dataset.full_name)?;
    outbox::emit(
        tx,
        &events::issue_event(IssueChange::Updated, &issue, now().0),
    )?;
    Ok(issue)
}

pub(crate) fn comment(
    tx: &Transaction<'_>,
    i: &IssueRef,
    text: &str,
    actor: &str,
) -> Result<Issue> {
    let mut cur = view(tx, &i.uuid, &i.dataset.full_name)?;
    let (_, at) = now();
    cur.comments.push(Comment {
        created_at: at.clone(),
        created_by: actor.to_owned(),
        text: text.to_owned(),
    });
    tx.execute(
        "UPDATE issues SET comments = ?2, updated_at = ?3, updated_by = ?4 WHERE uuid = ?1",
        params![i.uuid, serde_json::to_string(&cur.comments)?, at, actor],
    )?;
    let issue = view(tx, &i.uuid, &i.dataset.full_name)?;
    outbox::emit(
        tx,
        &events::issue_event(IssueChange::Replied { by: actor, text }, &issue, now().0),
    )?;
    Ok(issue)
}

pub(crate) fn delete(tx: &Transaction<'_>, i: &IssueRef) -> Result<()> {
    tx.execute("DELETE FROM issues WHERE uuid = ?1", [&i.uuid])?;
    Ok(())
}
