//! Operational webhooks on PostgreSQL beyond the shared code (`crate::shared::opwh`): the
//! record of a batch that may cause operational events, around this backend's own
//! `queue::complete`.

use datahooks_domain::delivery::{disables, EndpointChange, EndpointState};

use super::db::Pg;
use super::{queue, Tx};
use crate::handoff::{endpoint_changes, Completion};
use crate::shared::opwh;
use crate::Result;

/// Records a batch that may cause operational events (`crate::opwh::batch_may_signal`) in
/// one transaction with them: the endpoints it may disable are locked and read first, then
/// the batch is recorded as usual, then `message.attempt.*` and `endpoint.disabled` are
/// queued for what the rules decide.
pub(crate) async fn complete_with_events(
    tx: &Tx<'_>,
    node: &str,
    done: &[Completion],
) -> Result<()> {
    let db = &Pg(tx);
    let mut before: Vec<(String, EndpointState)> = Vec::new();
    for (ep, ch, _) in endpoint_changes(done, |_| true) {
        if ch.disable.is_some() {
            if let Some((_, _, state)) = opwh::app_endpoint(db, &ep, true).await? {
                before.push((ep, state));
            }
        }
    }
    let (moved, attempt_ids) = queue::complete(tx, node, done).await?;
    let folded: Vec<(String, EndpointChange, i64)> =
        endpoint_changes(done, |c| moved.contains(&c.job.delivery_id));
    // Only what the moved deliveries' change disables (a lost lease speaks for nothing).
    before.retain(|(ep, state)| {
        folded
            .iter()
            .any(|(e, ch, _)| e == ep && disables(state, ch))
    });
    opwh::after_batch(db, done, &moved, &attempt_ids, &folded, &before).await
}
