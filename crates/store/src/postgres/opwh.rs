//! Operational webhooks on PostgreSQL (see `crate::opwh`): the operational endpoints, and the
//! events queued to them inside the transaction of the change that causes them.

use async_trait::async_trait;
use serde_json::{Map, Value};

use datahooks_domain::delivery::{disables, EndpointChange, EndpointState};
use datahooks_domain::operational::{
    attempt_event, endpoint_disabled, endpoint_event as op_endpoint_event, op_endpoint_wants,
    update_events as op_update_events, DisableTrigger, EndpointRef, LastAttempt, OpEvent,
    OpEventType,
};

use super::{new_id, one, opt, queue, read_tx, rows, write_tx, PgStore, Tx};
use crate::handoff::{endpoint_changes, Completion};
use crate::opwh::{batch_signals, signal_type, Kind, OpWebhookStore};
use crate::webhooks::{Endpoint, EndpointInput};
use crate::Result;

/// Queues `ev` to the account's enabled operational endpoints that want it. Writes nothing
/// when there is none, so accounts without operational endpoints pay one indexed read.
pub(crate) async fn emit(tx: &Tx<'_>, account_id: i64, ev: &OpEvent) -> Result<()> {
    if !wanted(tx, account_id, ev.event_type).await? {
        return Ok(());
    }
    queue::insert_message_of(
        tx,
        Kind::Operational,
        account_id,
        &new_id("msg"),
        ev.event_type.as_str(),
        None,
        &[],
        &ev.payload.to_string(),
        None,
    )
    .await?;
    Ok(())
}

/// Whether an enabled operational endpoint of the account wants events of type `t`.
async fn wanted(tx: &Tx<'_>, account_id: i64, t: OpEventType) -> Result<bool> {
    let found = rows(
        tx,
        "SELECT event_types FROM endpoints WHERE account_id = $1 AND operational AND NOT disabled",
        &[&account_id],
    )
    .await?;
    for row in &found {
        let types: Option<String> = row.try_get(0)?;
        let types: Option<Vec<String>> = match types {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        };
        if op_endpoint_wants(types.as_deref(), t) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The event's view of an endpoint: its ids and its application's.
async fn endpoint_ref(
    tx: &Tx<'_>,
    account_id: i64,
    endpoint_id: &str,
    uid: Option<String>,
) -> Result<EndpointRef> {
    let row = one(
        tx,
        "SELECT name FROM accounts WHERE id = $1",
        &[&account_id],
    )
    .await?;
    Ok(EndpointRef {
        account_id,
        account_name: row.try_get(0)?,
        endpoint_id: endpoint_id.to_owned(),
        endpoint_uid: uid,
    })
}

/// `endpoint.created|deleted` (and the like) for an application endpoint.
pub(crate) async fn endpoint_event(tx: &Tx<'_>, ep: &Endpoint, t: OpEventType) -> Result<()> {
    let r = endpoint_ref(tx, ep.account_id, &ep.id, ep.uid.clone()).await?;
    emit(tx, ep.account_id, &op_endpoint_event(t, &r)).await
}

/// `endpoint.updated`, and `endpoint.disabled|enabled` when a user flipped its state.
pub(crate) async fn update_events(tx: &Tx<'_>, ep: &Endpoint, was_disabled: bool) -> Result<()> {
    let r = endpoint_ref(tx, ep.account_id, &ep.id, ep.uid.clone()).await?;
    for ev in op_update_events(&r, was_disabled, ep.disabled) {
        emit(tx, ep.account_id, &ev).await?;
    }
    Ok(())
}

/// An application endpoint by id alone: its account, uid and failure clock (`None` for an
/// operational endpoint, which causes no operational events, or one deleted meanwhile).
/// `lock` keeps it until the transaction ends (read before a change that may disable it).
async fn app_endpoint(
    tx: &Tx<'_>,
    id: &str,
    lock: bool,
) -> Result<Option<(i64, Option<String>, EndpointState)>> {
    let sql = if lock {
        "SELECT account_id, uid, disabled, disabled_reason, first_failure_at
         FROM endpoints WHERE id = $1 AND NOT operational FOR NO KEY UPDATE"
    } else {
        "SELECT account_id, uid, disabled, disabled_reason, first_failure_at
         FROM endpoints WHERE id = $1 AND NOT operational"
    };
    let Some(row) = opt(tx, sql, &[&id]).await? else {
        return Ok(None);
    };
    Ok(Some((
        row.try_get(0)?,
        row.try_get(1)?,
        EndpointState {
            disabled: row.try_get(2)?,
            reason: row.try_get(3)?,
            first_failure_at: row.try_get(4)?,
        },
    )))
}

fn fail_since(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(datahooks_domain::time::format)
}

/// Records a batch that may cause operational events (`crate::opwh::batch_may_signal`) in
/// one transaction with them: the endpoints it may disable are locked and read first, then
/// the batch is recorded as usual, then `message.attempt.*` and `endpoint.disabled` are
/// queued for what the rules decide.
pub(crate) async fn complete_with_events(
    tx: &Tx<'_>,
    node: &str,
    done: &[Completion],
) -> Result<()> {
    let mut before: Vec<(String, EndpointState)> = Vec::new();
    for (ep, ch, _) in endpoint_changes(done, |_| true) {
        if ch.disable.is_some() {
            if let Some((_, _, state)) = app_endpoint(tx, &ep, true).await? {
                before.push((ep, state));
            }
        }
    }
    let (moved, attempt_ids) = queue::complete(tx, node, done).await?;
    for (i, signal) in batch_signals(done, |id| moved.contains(&id)) {
        let c = &done[i];
        // Most accounts have no operational endpoint: one read, and nothing more to look up.
        if !wanted(tx, c.job.account_id, signal_type(signal)).await? {
            continue;
        }
        let Some((account_id, uid, _)) = app_endpoint(tx, &c.job.endpoint_id, false).await? else {
            continue;
        };
        let event_id: Option<String> = match opt(
            tx,
            "SELECT event_id FROM messages WHERE id = $1",
            &[&c.job.msg_id],
        )
        .await?
        {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        let r = endpoint_ref(tx, account_id, &c.job.endpoint_id, uid).await?;
        let last = LastAttempt {
            id: attempt_ids[i].clone(),
            response_status_code: c.result.status_code,
            timestamp: c.timestamp(),
        };
        let ev = attempt_event(
            signal_type(signal),
            &r,
            &c.job.msg_id,
            event_id.as_deref(),
            &last,
        );
        emit(tx, account_id, &ev).await?;
    }
    let folded: Vec<(String, EndpointChange, i64)> =
        endpoint_changes(done, |c| moved.contains(&c.job.delivery_id));
    for (ep, state) in &before {
        let Some((_, ch, _)) = folded.iter().find(|(e, _, _)| e == ep) else {
            continue;
        };
        if !disables(state, ch) {
            continue;
        }
        if let Some((account_id, uid, _)) = app_endpoint(tx, ep, false).await? {
            let r = endpoint_ref(tx, account_id, ep, uid).await?;
            let ev = endpoint_disabled(
                &r,
                DisableTrigger::Automatic,
                fail_since(state.first_failure_at),
            );
            emit(tx, account_id, &ev).await?;
        }
    }
    Ok(())
}

/// `endpoint.disabled` for an endpoint the failure clock's sweep just disabled.
pub(crate) async fn disabled_by_clock(tx: &Tx<'_>, id: &str) -> Result<()> {
    if let Some((account_id, uid, state)) = app_endpoint(tx, id, false).await? {
        let r = endpoint_ref(tx, account_id, id, uid).await?;
        let ev = endpoint_disabled(
            &r,
            DisableTrigger::Automatic,
            fail_since(state.first_failure_at),
        );
        emit(tx, account_id, &ev).await?;
    }
    Ok(())
}

#[async_trait]
impl OpWebhookStore for PgStore {
    async fn create_op_endpoint(
        &self,
        account_id: i64,
        input: EndpointInput,
        sealed_secret: String,
        headers: Map<String, Value>,
    ) -> Result<Endpoint> {
        write_tx!(self, |tx| async {
            let ep = queue::create_endpoint_of(
                &tx,
                Kind::Operational,
                account_id,
                &input,
                &sealed_secret,
            )
            .await?;
            if headers.is_empty() {
                return Ok(ep);
            }
            queue::set_headers_of(&tx, Kind::Operational, account_id, &ep.id, &headers).await?;
            queue::endpoint_of(&tx, Kind::Operational, account_id, &ep.id).await
        }
        .await)
    }
    async fn list_op_endpoints(
        &self,
        account_id: i64,
        limit: i64,
        iterator: Option<&str>,
    ) -> Result<Vec<Endpoint>> {
        read_tx!(self, |tx| queue::list_endpoints_of(
            &tx,
            Kind::Operational,
            account_id,
            limit,
            iterator
        )
        .await)
    }
    async fn get_op_endpoint(&self, account_id: i64, id: &str) -> Result<Endpoint> {
        read_tx!(self, |tx| queue::endpoint_of(
            &tx,
            Kind::Operational,
            account_id,
            id
        )
        .await)
    }
    async fn update_op_endpoint(
        &self,
        account_id: i64,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint> {
        write_tx!(self, |tx| queue::update_endpoint_of(
            &tx,
            Kind::Operational,
            account_id,
            id,
            &input
        )
        .await)
    }
    async fn delete_op_endpoint(&self, account_id: i64, id: &str) -> Result<()> {
        write_tx!(self, |tx| queue::delete_endpoint_of(
            &tx,
            Kind::Operational,
            account_id,
            id
        )
        .await)
    }
    async fn rotate_op_secret(
        &self,
        account_id: i64,
        id: &str,
        sealed_secret: String,
        old_expires_at: i64,
    ) -> Result<Endpoint> {
        write_tx!(self, |tx| queue::rotate_secret_of(
            &tx,
            Kind::Operational,
            account_id,
            id,
            &sealed_secret,
            old_expires_at
        )
        .await)
    }
    async fn set_op_endpoint_headers(
        &self,
        account_id: i64,
        id: &str,
        headers: Map<String, Value>,
    ) -> Result<()> {
        write_tx!(self, |tx| queue::set_headers_of(
            &tx,
            Kind::Operational,
            account_id,
            id,
            &headers
        )
        .await)
    }
}
