//! The outbox, one text for both backends: events written in the transaction of their
//! change, and the feed that reads them back in commit order.
//!
//! Each event's fan-out (its message, and a delivery for each subscribed endpoint of the
//! owning account) is queued in that same transaction by the backend's `outbox::emit`, through
//! its own queue insert: "every committed event is queued for every subscribed endpoint" then
//! holds by construction, with no separate fan-out pass that could be lost or run twice.
//!
//! Commit order: on PostgreSQL a `BIGSERIAL` is drawn when a row is inserted, not when it
//! commits, so two writers could commit seq 11 before seq 10, and a reader paging with
//! `events_after(10)` would skip 10 for good. Each writer therefore takes a transaction-level
//! advisory lock ([`crate::sql::Dialect::serialize`]) before its first event and holds it until
//! it commits: events are numbered in commit order, as with SQLite's single writer. Only the
//! tail of a writing transaction (from its first event to its commit) is serialised this way.

use datahooks_domain::events::NewEvent;

use super::new_id;
use crate::sql::{from_cols, Cols, Db};
use crate::{Result, StoredEvent};

/// An event just written, and the account whose queue its message goes to.
pub(crate) struct Written {
    /// The event's id, which its message takes too.
    pub(crate) id: String,
    /// The payload JSON, as stored.
    pub(crate) payload: String,
    /// The owning account, when it takes webhooks; `None` when it does not (or is gone).
    pub(crate) account_id: Option<i64>,
}

/// Writes `event` in the caller's transaction; the caller queues its message for
/// [`Written::account_id`].
pub(crate) async fn write(db: &impl Db, event: &NewEvent) -> Result<Written> {
    if let Some(sql) = db.dialect().serialize() {
        // Re-entrant: a transaction that emits several events takes it again at no cost.
        db.exec(sql, &[&crate::postgres::OUTBOX_LOCK]).await?;
    }
    let id = new_id("msg");
    let payload = event.payload_json();
    db.exec(
        "INSERT INTO events (id, event_type, dataset, owner, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &event.event_type.as_str(),
            &event.dataset,
            &event.owner,
            &payload,
            &event.payload.created_at,
        ],
    )
    .await?;
    let account = db
        .opt(
            "SELECT id, webhooks_enabled FROM accounts WHERE name = $1",
            &[&event.owner],
            |r| Ok((r.get::<i64>("id")?, r.get::<bool>("webhooks_enabled")?)),
        )
        .await?;
    let account_id = account.and_then(|(id, enabled)| enabled.then_some(id));
    Ok(Written {
        id,
        payload,
        account_id,
    })
}

/// Up to `limit` events after `seq`, in commit order.
pub(crate) async fn after(db: &impl Db, seq: i64, limit: i64) -> Result<Vec<StoredEvent>> {
    db.rows(
        "SELECT seq, id, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&seq, &limit],
        |r| Ok(from_cols!(r => StoredEvent { seq, id, payload })),
    )
    .await
}
