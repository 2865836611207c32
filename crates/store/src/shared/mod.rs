//! Store code written once for both backends, generic over [`crate::sql::Db`]: what used to
//! exist as `sqlite/X.rs` and `postgres/X.rs` twice lives here as `shared/X.rs`, and a store
//! trait's impl (written once for both backends with [`crate::both::on_both!`], like
//! `store_impl`) only opens the transaction and calls it.

pub(crate) mod accounts;
pub(crate) mod apps;
pub(crate) mod charts;
pub(crate) mod datasets;
pub(crate) mod endpoints;
pub(crate) mod event_types;
pub(crate) mod issues;
pub(crate) mod jobs;
pub(crate) mod lifecycle;
pub(crate) mod messages;
pub(crate) mod nodes;
pub(crate) mod ops;
pub(crate) mod opwh;
pub(crate) mod outbox;
pub(crate) mod pace;
pub(crate) mod portal;
pub(crate) mod releases;
pub(crate) mod samples;
pub(crate) mod sessions;
pub(crate) mod setup;
pub(crate) mod store_impl;
pub(crate) mod stream;
pub(crate) mod tasks;
pub(crate) mod webhook_impl;

use chrono::{DateTime, Utc};

use crate::{Error, Result};

/// The current time, as a timestamp and in API format.
pub(crate) fn now() -> (DateTime<Utc>, String) {
    let t = Utc::now();
    (t, datahooks_domain::time::format(t))
}

/// Tells the workers, when the transaction commits, that deliveries were queued or came due:
/// this node's through `crate::handoff`, the other nodes' by the dialect's notification.
pub(crate) async fn wake_workers(db: &impl crate::sql::Db) -> Result<()> {
    if let Some(sql) = db.dialect().notify() {
        db.exec(sql, &[&crate::postgres::WAKEUP_CHANNEL]).await?;
    }
    crate::handoff::wake_after_commit();
    Ok(())
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A unique id with a type prefix, like `msg_0193a1f3…`: a UUIDv7, so ids made later sort
/// later. Messages, deliveries and attempts are indexed by these ids; random ids put each
/// insert on a random page of those indexes, and every commit rewrote as many pages as it
/// had rows (the SQLite writer's WAL writes), where ordered ids append to the last page.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A random UUID (samples, issues, releases, assets).
pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses stored JSON text.
pub(crate) fn json_of(s: &str) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(s)?)
}

/// Names what a unique constraint refused (`Error::AlreadyExists` from either driver) with
/// `msg`; any other error passes unchanged. For `map_err` on the statement that may collide.
pub(crate) fn on_conflict(msg: impl FnOnce() -> String) -> impl FnOnce(Error) -> Error {
    move |e| match e {
        Error::Domain(datahooks_domain::Error::AlreadyExists(_)) => Error::exists(msg()),
        other => other,
    }
}

/// A role as stored; an unknown name is corrupt data, reported rather than guessed.
pub(crate) fn role_of(name: &str) -> Result<datahooks_domain::model::Role> {
    crate::types::parse_role(name)
        .ok_or_else(|| Error::Other(format!("unknown role in the store: {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_made_later_sort_later() {
        let ids: Vec<String> = (0..2_000).map(|_| new_id("msg")).collect();
        assert!(ids.iter().all(|id| id.len() == "msg_".len() + 32));
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids out of creation order"
        );
    }
}
