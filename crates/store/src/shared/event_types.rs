//! Custom event types (see [`crate::event_types`]) and an endpoint's windowed stats (see
//! [`crate::window_stats`]): one text for both backends.

use datahooks_domain::event_types::EventTypeInput;

use crate::event_types::{
    from_row, json_fields, CustomEventType, ARCHIVE, EXPUNGE, GET, INSERT, LIST, UPSERT,
};
use crate::sql::{Cols, Db};
use crate::webhooks::EndpointStats;
use crate::window_stats::{fold, STATS_BETWEEN};
use crate::{Error, Result};

/// A row of [`GET`] or [`LIST`] as a type.
fn type_of(r: &impl Cols) -> Result<CustomEventType> {
    from_row(
        r.get("name")?,
        r.get("description")?,
        r.get("archived")?,
        r.get("deprecated")?,
        r.get("schemas")?,
        r.get("group_name")?,
        r.get("feature_flags")?,
        r.get("created_at")?,
        r.get("updated_at")?,
    )
}

/// An account's type by name, if it has one.
pub(crate) async fn get(
    db: &impl Db,
    account_id: i64,
    name: &str,
) -> Result<Option<CustomEventType>> {
    db.opt(GET, &[&account_id, &name], |r| type_of(r)).await
}

/// An account's types by name, the archived ones too when asked.
pub(crate) async fn list(
    db: &impl Db,
    account_id: i64,
    include_archived: bool,
) -> Result<Vec<CustomEventType>> {
    db.rows(LIST, &[&account_id, &include_archived], |r| type_of(r))
        .await
}

/// Writes a type with `sql` (insert or upsert); returns how many rows changed.
async fn write(
    db: &impl Db,
    sql: &str,
    account_id: i64,
    name: &str,
    input: &EventTypeInput,
) -> Result<u64> {
    let now = datahooks_domain::time::format(chrono::Utc::now());
    let (schemas, flags) = json_fields(input);
    db.exec(
        sql,
        &[
            &account_id,
            &name,
            &input.description,
            &input.archived,
            &input.deprecated,
            &schemas,
            &input.group_name,
            &flags,
            &now,
        ],
    )
    .await
}

/// Creates a type; refused when the account has one of that name.
pub(crate) async fn create(
    db: &impl Db,
    account_id: i64,
    name: &str,
    input: &EventTypeInput,
) -> Result<CustomEventType> {
    if write(db, INSERT, account_id, name, input).await? == 0 {
        return Err(Error::exists(format!(
            "Event type {name:?} already exists."
        )));
    }
    get(db, account_id, name)
        .await?
        .ok_or_else(Error::not_found)
}

/// Creates a type or replaces all of it but its creation time.
pub(crate) async fn put(
    db: &impl Db,
    account_id: i64,
    name: &str,
    input: &EventTypeInput,
) -> Result<CustomEventType> {
    write(db, UPSERT, account_id, name, input).await?;
    get(db, account_id, name)
        .await?
        .ok_or_else(Error::not_found)
}

/// Archives a type, or deletes it for good (`expunge`).
pub(crate) async fn delete(db: &impl Db, account_id: i64, name: &str, expunge: bool) -> Result<()> {
    let n = if expunge {
        db.exec(EXPUNGE, &[&account_id, &name]).await?
    } else {
        let now = datahooks_domain::time::format(chrono::Utc::now());
        db.exec(ARCHIVE, &[&true, &now, &account_id, &name]).await?
    };
    if n == 0 {
        return Err(Error::not_found());
    }
    Ok(())
}

/// Counts by status of the messages created in `[since_ms, until_ms)` at an endpoint (by its
/// row id; the caller has found it in the account).
pub(crate) async fn stats_between(
    db: &impl Db,
    endpoint_id: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<EndpointStats> {
    let rows = db
        .rows(STATS_BETWEEN, &[&endpoint_id, &since_ms, &until_ms], |r| {
            Ok((r.get::<i64>("status")?, r.get::<i64>("n")?))
        })
        .await?;
    fold(rows)
}

/// [`stats_between`] of an application endpoint named by id or uid in the account.
pub(crate) async fn endpoint_stats_between(
    db: &impl Db,
    account_id: i64,
    endpoint: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<EndpointStats> {
    let ep = super::endpoints::get_app(db, account_id, endpoint).await?;
    stats_between(db, &ep.id, since_ms, until_ms).await
}

crate::both::on_both! {
    impl crate::event_types::EventTypeStore;
    read fn event_type(account_id: i64, name: &str) -> Result<Option<CustomEventType>> =
        |db| get(db, account_id, name);
    // One statement, on the message path: on PostgreSQL no transaction around it.
    read_one fn list_event_types(account_id: i64, include_archived: bool)
        -> Result<Vec<CustomEventType>> = |db| list(db, account_id, include_archived);
    write fn create_event_type(account_id: i64, name: &str, input: EventTypeInput)
        -> Result<CustomEventType> = |db| create(db, account_id, name, input);
    write fn put_event_type(account_id: i64, name: &str, input: EventTypeInput)
        -> Result<CustomEventType> = |db| put(db, account_id, name, input);
    write fn delete_event_type(account_id: i64, name: &str, expunge: bool) -> Result<()> =
        |db| delete(db, account_id, name, expunge);
}

crate::both::on_both! {
    impl crate::window_stats::WindowStatsStore;
    read fn endpoint_stats_between(account_id: i64, endpoint: &str, since_ms: i64, until_ms: i64)
        -> Result<EndpointStats> =
        |db| endpoint_stats_between(db, account_id, endpoint, since_ms, until_ms);
}
