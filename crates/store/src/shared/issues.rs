//! Issues raised on samples, and their replies: one text for both backends.

use datahooks_domain::access::Access;
use datahooks_domain::events::{self, IssueChange};
use datahooks_domain::inputs::IssueInput;
use datahooks_domain::model::{Comment, Issue, IssueStatus};

use super::{datasets, json_of, new_uuid, now};
use crate::sql::{from_cols, Cols, Db};
use crate::{DatasetRef, IssueRef, Result, SampleRef};

const ISSUE_SQL: &str = "SELECT i.uuid, i.description, i.created_at, i.updated_at, i.created_by,
    i.updated_by, i.status, i.comments, i.sample_uuid, s.name AS sample_name, i.anchor
    FROM issues i JOIN samples s ON s.uuid = i.sample_uuid";

fn issue_row(r: &impl Cols, dataset: &str) -> Result<Issue> {
    let comments: Vec<Comment> = serde_json::from_str(&r.get::<String>("comments")?)?;
    let anchor: Option<String> = r.get("anchor")?;
    Ok(from_cols!(r => Issue {
        uuid, description, created_at, updated_at, created_by, updated_by, sample_uuid,
        sample_name,
        status: IssueStatus::parse(&r.get::<String>("status")?)?,
        comments: comments,
        anchor: anchor.as_deref().map(json_of).transpose()?,
        dataset: dataset.to_owned(),
    }))
}

pub(crate) async fn view(db: &impl Db, uuid: &str, dataset: &str) -> Result<Issue> {
    let sql = format!("{ISSUE_SQL} WHERE i.uuid = $1");
    db.one(&sql, &[&uuid], |r| issue_row(r, dataset)).await
}

/// Reads an issue that the transaction will write back whole, locked where the backend has
/// concurrent writers: a change and a reply at once must not lose one another.
async fn view_for_update(db: &impl Db, i: &IssueRef) -> Result<Issue> {
    let lock = db.dialect().lock_row();
    if !lock.is_empty() {
        let sql = format!("SELECT uuid FROM issues WHERE uuid = $1{lock}");
        db.one(&sql, &[&i.uuid], |_| Ok(())).await?;
    }
    view(db, &i.uuid, &i.dataset.full_name).await
}

pub(crate) async fn list(db: &impl Db, ds: &DatasetRef) -> Result<Vec<Issue>> {
    let sql = format!("{ISSUE_SQL} WHERE i.dataset_id = $1 ORDER BY i.created_at DESC, i.uuid");
    db.rows(&sql, &[&ds.id], |r| issue_row(r, &ds.full_name))
        .await
}

pub(crate) async fn find(db: &impl Db, caller: i64, uuid: &str) -> Result<(IssueRef, Access)> {
    let (dataset_id, created_by): (i64, String) = db
        .one(
            "SELECT dataset_id, created_by FROM issues WHERE uuid = $1",
            &[&uuid],
            |r| Ok((r.get("dataset_id")?, r.get("created_by")?)),
        )
        .await?;
    let ds = datasets::by_id(db, dataset_id).await?;
    let (ds, access) = datasets::visible(db, caller, ds).await?;
    let issue = IssueRef {
        uuid: uuid.to_owned(),
        created_by,
        dataset: ds,
    };
    Ok((issue, access))
}

pub(crate) async fn create(
    db: &impl Db,
    s: &SampleRef,
    input: &IssueInput,
    actor: &str,
) -> Result<Issue> {
    let uuid = new_uuid();
    let (_, at) = now();
    db.exec(
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
    let issue = view(db, &uuid, &s.dataset.full_name).await?;
    db.emit(&events::issue_event(IssueChange::Created, &issue, now().0))
        .await?;
    Ok(issue)
}

pub(crate) async fn update(
    db: &impl Db,
    i: &IssueRef,
    input: &IssueInput,
    actor: &str,
) -> Result<Issue> {
    let mut cur = view_for_update(db, i).await?;
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
    db.exec(
        "UPDATE issues SET description = $2, status = $3, anchor = $4, updated_at = $5,
             updated_by = $6 WHERE uuid = $1",
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
    let issue = view(db, &i.uuid, &i.dataset.full_name).await?;
    db.emit(&events::issue_event(IssueChange::Updated, &issue, now().0))
        .await?;
    Ok(issue)
}

pub(crate) async fn comment(db: &impl Db, i: &IssueRef, text: &str, actor: &str) -> Result<Issue> {
    let mut cur = view_for_update(db, i).await?;
    let (_, at) = now();
    cur.comments.push(Comment {
        created_at: at.clone(),
        created_by: actor.to_owned(),
        text: text.to_owned(),
    });
    db.exec(
        "UPDATE issues SET comments = $2, updated_at = $3, updated_by = $4 WHERE uuid = $1",
        &[&i.uuid, &serde_json::to_string(&cur.comments)?, &at, &actor],
    )
    .await?;
    let issue = view(db, &i.uuid, &i.dataset.full_name).await?;
    let event = events::issue_event(IssueChange::Replied { by: actor, text }, &issue, now().0);
    db.emit(&event).await?;
    Ok(issue)
}

pub(crate) async fn delete(db: &impl Db, i: &IssueRef) -> Result<()> {
    db.exec("DELETE FROM issues WHERE uuid = $1", &[&i.uuid])
        .await?;
    Ok(())
}
