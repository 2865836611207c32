//! The outbox's fan-out on SQLite: an event (`crate::shared::outbox`) and its message and
//! deliveries, queued through SQLite's own insert in the transaction of the change.

use rusqlite::Transaction;

use datahooks_domain::events::NewEvent;

use super::{queue, Lite};
use crate::opwh::Kind;
use crate::shared::outbox::{self, Written};
use crate::sql::block_now;
use crate::Result;

/// Writes `event` and queues its deliveries. Call inside the change's transaction.
pub(crate) fn emit(tx: &Transaction<'_>, event: &NewEvent) -> Result<()> {
    let Written {
        id,
        payload,
        account_id,
    } = block_now(outbox::write(&Lite(tx), event))??;
    if let Some(account_id) = account_id {
        queue::insert_message_of(
            tx,
            Kind::App,
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
