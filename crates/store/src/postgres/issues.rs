//! Issues raised on samples, and their replies (PostgreSQL).

use tokio_postgres::Row;

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, IssueChange};
use datahooks_domain::inputs::IssueInput;
use datahooks_domain::model::{Comment, Issue, IssueStatus};

use super::{datasets, exec, json_of, new_uuid, now, one, outbox, rows, Tx};
use crate::{DatasetRef, Error, IssueRef, Result, SampleRef};

const ISSUE_SQL: &str = "SELECT i.uuid, i.description, i.created_at, i.updated_at, i.created_by,
    i.updated_by, i.status, i.comments, i.sample_uuid, s.name, i.anchor
    FROM issues i JOIN samples s ON s.uuid = i.sample_uuid";

fn issue_row(r: &Row, dataset: &str) -> Result<Issue> {
    let status: String = r.try_get(6)?;
    let comments: String = r.try_get(7)?;
    let anchor: Option<String> = r.try_get(10)?;
    let comments: Vec<Comment> = serde_json::from_str(&comments)?;
    Ok(Issue {
        uuid: r.try_get(0)?,
        description: r.try_get(1)?,
        created_at: r.try_get(2)?,
        updated_at: r.try_get(3)?,
        created_by: r.try_get(4)?,
        updated_by: r.try_get(5)?,
        status: IssueStatus::parse(&status)?,
        comments,
        sample_uuid: r.try_get(8)?,
        sample_name: r.try_get(9)?,
        anchor: anchor.as_deref().map(json_of).transpose()?,
        dataset: dataset.to_owned(),
    })
}

pub(crate) async fn view(tx: &Tx<'_>, uuid: &str, dataset: &str) -> Result<Issue> {
    let row = one(tx, &format!("{ISSUE_SQL} WHERE i.uuid = $1"), &[&uuid]).await?;
    issue_row(&row, dataset)
}

/// Locks an issue's row until the transaction ends: a change or a reply reads the issue and
/// writes it back whole, and two of them at once must not lose one another.
async fn lock(tx: &Tx<'_>, uuid: &str) -> Result<()> {
    exec(
        tx,
        "SELECT 1 FROM issues WHERE uuid = $1 FOR NO KEY UPDATE",
        &[&uuid],
    )
    .await?;
    Ok(())
}

pub(crate) async fn list(tx: &Tx<'_>, ds: &DatasetRef) -> Result<Vec<Issue>> {
    rows(
        tx,
        &format!("{ISSUE_SQL} WHERE i.dataset_id = $1 ORDER BY i.created_at DESC, i.uuid"),
        &[&ds.id],
    )
    .await?
    .iter()
    .map(|r| issue_row(r, &ds.full_name))
    .collect()
}

pub(crate) async fn find(tx: &Tx<'_>, caller: i64, uuid: &str) -> Result<(IssueRef, Access)> {
    let row = one(
        tx,
        "SELECT dataset_id, created_by FROM issues WHERE uuid = $1",
        &[&uuid],
    )
    .await?;
    let dataset_id: i64 = row.try_get(0)?;
    let created_by: String = row.try_get(1)?;
    let ds = datasets::by_id(tx, dataset_id).await?;
    let access = datasets::access(tx, caller, &ds).await?;
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

pub(crate) async fn create(
    tx: &Tx<'_>,
    s: &SampleRef,
    input: &IssueInput,
    actor: &str,
) -> Result<Issue> {
    let uuid = new_uuid();
    let (_, at) = now();
    exec(
        tx,
        "INSERT INTO issues (uuid, dataset_id, sample_uuid, description, status, anchor, created_at,
             created_by, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $8)",
        &[
            &uuid,
            &s.dataset.id,
            &s.uuid,
            &input.description.clone().unwrap_or_default(),
            &input.status.unwrap_or(IssueStatus::Open).as_str(),
            &input.anchor.clone().flatten().map(|a| a.to_string()),
            &at,
            &actor,
        ],
    )
    .await?;
    let issue = view(tx, &uuid, &s.dataset.full_name).await?;
    outbox::emit(
        tx,
        &events::issue_event(IssueChange::Created, &issue, now().0),
    )
    .await?;
    Ok(issue)
}

pub(crate) async fn update(
    tx: &Tx<'_>,
    i: &IssueRef,
    input: &IssueInput,
    actor: &str,
) -> Result<Issue> {
    lock(tx, &i.uuid).await?;
    let mut cur = view(tx, &i.uuid, &i.dataset.full_name).await?;
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
    exec(
        tx,
        "UPDATE issues SET description = $2, status = $3, anchor = $4, updated_at = $5, updated_by = $6 WHERE uuid = $1",
        &[
            &i.uuid,
            &cur.description,
            &cur.status.as_str(),
            &cur.anchor.as_ref().map(|a| a.to_string()),
            &at,
            &actor,
        ],
    )
    .await?;
    let issue = view(tx, &i.uuid, &i.dataset.full_name).await?;
    outbox::emit(
        tx,
        &events::issue_event(IssueChange::Updated, &issue, now().0),
    )
    .await?;
    Ok(issue)
}

pub(crate) async fn comment(tx: &Tx<'_>, i: &IssueRef, text: &str, actor: &str) -> Result<Issue> {
    lock(tx, &i.uuid).await?;
    let mut cur = view(tx, &i.uuid, &i.dataset.full_name).await?;
    let (_, at) = now();
    cur.comments.push(Comment {
        created_at: at.clone(),
        created_by: actor.to_owned(),
        text: text.to_owned(),
    });
    exec(
        tx,
        "UPDATE issues SET comments = $2, updated_at = $3, updated_by = $4 WHERE uuid = $1",
        &[&i.uuid, &serde_json::to_string(&cur.comments)?, &at, &actor],
    )
    .await?;
    let issue = view(tx, &i.uuid, &i.dataset.full_name).await?;
    outbox::emit(
        tx,
        &events::issue_event(IssueChange::Replied { by: actor, text }, &issue, now().0),
    )
    .await?;
    Ok(issue)
}

pub(crate) async fn delete(tx: &Tx<'_>, i: &IssueRef) -> Result<()> {
    exec(tx, "DELETE FROM issues WHERE uuid = $1", &[&i.uuid]).await?;
    Ok(())
}
