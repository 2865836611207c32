//! The outbox's fan-out on PostgreSQL: an event (`crate::shared::outbox`, which also keeps
//! events in commit order) and its message and deliveries, queued through PostgreSQL's own
//! insert in the transaction of the change.

use datahooks_domain::events::NewEvent;

use super::{queue, Pg, Tx};
use crate::opwh::Kind;
use crate::shared::outbox::{self, Written};
use crate::Result;

/// Writes `event` and queues its deliveries. Call inside the change's transaction.
pub(crate) async fn emit(tx: &Tx<'_>, event: &NewEvent) -> Result<()> {
    let Written {
        id,
        payload,
        account_id,
    } = outbox::write(&Pg(tx), event).await?;
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
        )
        .await?;
    }
    Ok(())
}
