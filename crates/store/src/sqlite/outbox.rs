//! The outbox: events written in the transaction of their change, and their fan-out to the
//! owning account's endpoints, in that same transaction.
//!
//! Fanning out inside the transaction makes "every committed event is queued for every
//! subscribed endpoint" hold by construction: there is no window in which an event exists
//! without its deliveries, and no separate fan-out pass that could run twice.

use rusqlite::{params, OptionalExtension, Transaction};

use datahooks_domain::events::NewEvent;

use super::{new_id, queue};
use crate::{Result, StoredEvent};

/// Writes `event` and queues its deliveries. Call inside the change's transaction.
pub(crate) fn emit(tx: &Transaction<'_>, event: &NewEvent) -> Result<()> {
    let id = new_id("msg");
    let payload = event.payload_json();
    tx.execute(
        "INSERT INTO events (id, event_type, dataset, owner, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, event.event_type.as_str(), event.dataset, event.owner, payload, event.payload.created_at],
    )?;
    let account: Option<(i64, bool)> = tx
        .query_row(
            "SELECT id, webhooks_enabled FROM accounts WHERE name = ?1",
            [&event.owner],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((account_id, true)) = account {
        queue::insert_message(
            tx,
            account_id,
            &id,
            event.event_type.as_str(),
            None,
            std::slice::from_ref(&event.dataset),
            &payload,
            None,
        )?;
    }
    Ok(())
}

pub(crate) fn after(tx: &Transaction<'_>, seq: i64, limit: i64) -> Result<Vec<StoredEvent>> {
    let mut stmt =
        tx.prepare("SELECT seq, id, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![seq, limit], |r| {
        Ok(StoredEvent {
            seq: r.get(0)?,
            id: r.get(1)?,
            payload: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
