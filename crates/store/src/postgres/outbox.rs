//! The outbox (PostgreSQL): events written in the transaction of their change, and their
//! fan-out to the owning account's endpoints, in that same transaction.
//!
//! Fanning out inside the transaction makes "every committed event is queued for every
//! subscribed endpoint" hold by construction, whichever node commits it: there is no separate
//! fan-out pass that could be lost or run twice.
//!
//! Commit order: a `BIGSERIAL` is drawn when a row is inserted, not when it commits, so two
//! writers could commit seq 11 before seq 10, and a reader paging with `events_after(10)`
//! would skip 10 for good. Each writer therefore takes a transaction-level advisory lock
//! before its first event and holds it until it commits: events are numbered in commit order,
//! as with SQLite's single writer. Only the tail of a writing transaction (from its first
//! event to its commit) is serialised this way.

use datahooks_domain::events::NewEvent;

use super::{exec, new_id, opt, queue, rows, Tx, OUTBOX_LOCK};
use crate::{Result, StoredEvent};

/// Writes `event` and queues its deliveries. Call inside the change's transaction.
pub(crate) async fn emit(tx: &Tx<'_>, event: &NewEvent) -> Result<()> {
    // Re-entrant: a transaction that emits several events takes it again at no cost.
    exec(tx, "SELECT pg_advisory_xact_lock($1)", &[&OUTBOX_LOCK]).await?;
    let id = new_id("msg");
    let payload = event.payload_json();
    exec(
        tx,
        "INSERT INTO events (id, event_type, dataset, owner, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
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
    let account = opt(
        tx,
        "SELECT id, webhooks_enabled FROM accounts WHERE name = $1",
        &[&event.owner],
    )
    .await?;
    if let Some(row) = account {
        let account_id: i64 = row.try_get(0)?;
        let enabled: bool = row.try_get(1)?;
        if enabled {
            queue::insert_message(
                tx,
                account_id,
                &id,
                event.event_type.as_str(),
                None,
                std::slice::from_ref(&event.dataset),
                &payload,
                None,
            )
            .await?;
        }
    }
    Ok(())
}

pub(crate) async fn after(tx: &Tx<'_>, seq: i64, limit: i64) -> Result<Vec<StoredEvent>> {
    rows(
        tx,
        "SELECT seq, id, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&seq, &limit],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(StoredEvent {
            seq: r.try_get(0)?,
            id: r.try_get(1)?,
            payload: r.try_get(2)?,
        })
    })
    .collect()
}
