//! Operational webhooks on SQLite (see `crate::opwh`): the operational endpoints, and the
//! events queued to them inside the transaction of the change that causes them.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction};
use serde_json::{Map, Value};

use datahooks_domain::delivery::{disables, EndpointChange, EndpointState};
use datahooks_domain::operational::{
    attempt_event, endpoint_disabled, endpoint_event as op_endpoint_event, op_endpoint_wants,
    update_events as op_update_events, DisableTrigger, EndpointRef, LastAttempt, OpEvent,
    OpEventType,
};

use super::{new_id, queue, SqliteStore};
use crate::handoff::Completion;
use crate::opwh::{batch_signals, signal_type, Kind, OpWebhookStore};
use crate::webhooks::{Endpoint, EndpointInput};
use crate::Result;

/// Queues `ev` to the account's enabled operational endpoints that want it. Writes nothing
/// when there is none, so accounts without operational endpoints pay one indexed read.
pub(crate) fn emit(tx: &Transaction<'_>, account_id: i64, ev: &OpEvent) -> Result<()> {
    if !wanted(tx, account_id, ev.event_type)? {
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
    )?;
    Ok(())
}

/// Whether an enabled operational endpoint of the account wants events of type `t`.
fn wanted(tx: &Transaction<'_>, account_id: i64, t: OpEventType) -> Result<bool> {
    let mut stmt = tx.prepare_cached(
        "SELECT event_types FROM endpoints
         WHERE account_id = ?1 AND operational = 1 AND disabled = 0",
    )?;
    let rows = stmt.query_map([account_id], |r| r.get::<_, Option<String>>(0))?;
    for types in rows {
        let types: Option<Vec<String>> = match types? {
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
fn endpoint_ref(
    tx: &Transaction<'_>,
    account_id: i64,
    endpoint_id: &str,
    uid: Option<String>,
) -> Result<EndpointRef> {
    let account_name: String = tx.query_row(
        "SELECT name FROM accounts WHERE id = ?1",
        [account_id],
        |r| r.get(0),
    )?;
    Ok(EndpointRef {
        account_id,
        account_name,
        endpoint_id: endpoint_id.to_owned(),
        endpoint_uid: uid,
    })
}

/// `endpoint.created|deleted` (and the like) for an application endpoint.
pub(crate) fn endpoint_event(tx: &Transaction<'_>, ep: &Endpoint, t: OpEventType) -> Result<()> {
    let r = endpoint_ref(tx, ep.account_id, &ep.id, ep.uid.clone())?;
    emit(tx, ep.account_id, &op_endpoint_event(t, &r))
}

/// `endpoint.updated`, and `endpoint.disabled|enabled` when a user flipped its state.
pub(crate) fn update_events(tx: &Transaction<'_>, ep: &Endpoint, was_disabled: bool) -> Result<()> {
    let r = endpoint_ref(tx, ep.account_id, &ep.id, ep.uid.clone())?;
    for ev in op_update_events(&r, was_disabled, ep.disabled) {
        emit(tx, ep.account_id, &ev)?;
    }
    Ok(())
}

/// An application endpoint by id alone: its account, uid and failure clock (`None` for an
/// operational endpoint, which causes no operational events, or one deleted meanwhile).
fn app_endpoint(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Option<(i64, Option<String>, EndpointState)>> {
    Ok(tx
        .query_row(
            "SELECT account_id, uid, disabled, disabled_reason, first_failure_at
             FROM endpoints WHERE id = ?1 AND operational = 0",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    EndpointState {
                        disabled: r.get(2)?,
                        reason: r.get(3)?,
                        first_failure_at: r.get(4)?,
                    },
                ))
            },
        )
        .optional()?)
}

/// The state, before the batch, of each endpoint whose folded change disables something.
pub(crate) fn states_before(
    tx: &Transaction<'_>,
    folded: &[(String, EndpointChange, i64)],
) -> Result<Vec<(String, EndpointState)>> {
    let mut out = Vec::new();
    for (ep, ch, _) in folded.iter().filter(|(_, ch, _)| ch.disable.is_some()) {
        if let Some((_, _, state)) = app_endpoint(tx, ep)? {
            if disables(&state, ch) {
                out.push((ep.clone(), state));
            }
        }
    }
    Ok(out)
}

fn fail_since(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(datahooks_domain::time::format)
}

/// After a batch's record: `message.attempt.*` for the attempts the rules signal, and
/// `endpoint.disabled` for the endpoints it disabled (`disabling`, read before).
pub(crate) fn after_batch(
    tx: &Transaction<'_>,
    done: &[Completion],
    moved: &HashSet<i64>,
    attempt_ids: &[String],
    folded: &[(String, EndpointChange, i64)],
    disabling: &[(String, EndpointState)],
) -> Result<()> {
    for (i, signal) in batch_signals(done, |id| moved.contains(&id)) {
        let c = &done[i];
        // Most accounts have no operational endpoint: one read, and nothing more to look up.
        if !wanted(tx, c.job.account_id, signal_type(signal))? {
            continue;
        }
        let Some((account_id, uid, _)) = app_endpoint(tx, &c.job.endpoint_id)? else {
            continue;
        };
        let event_id: Option<String> = tx
            .query_row(
                "SELECT event_id FROM messages WHERE id = ?1",
                [&c.job.msg_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let r = endpoint_ref(tx, account_id, &c.job.endpoint_id, uid)?;
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
        emit(tx, account_id, &ev)?;
    }
    for (ep, before) in disabling {
        if !folded.iter().any(|(e, _, _)| e == ep) {
            continue;
        }
        if let Some((account_id, uid, _)) = app_endpoint(tx, ep)? {
            let r = endpoint_ref(tx, account_id, ep, uid)?;
            let ev = endpoint_disabled(
                &r,
                DisableTrigger::Automatic,
                fail_since(before.first_failure_at),
            );
            emit(tx, account_id, &ev)?;
        }
    }
    Ok(())
}

/// `endpoint.disabled` for an endpoint the failure clock's sweep just disabled.
pub(crate) fn disabled_by_clock(tx: &Transaction<'_>, id: &str) -> Result<()> {
    if let Some((account_id, uid, state)) = app_endpoint(tx, id)? {
        let r = endpoint_ref(tx, account_id, id, uid)?;
        let ev = endpoint_disabled(
            &r,
            DisableTrigger::Automatic,
            fail_since(state.first_failure_at),
        );
        emit(tx, account_id, &ev)?;
    }
    Ok(())
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[async_trait]
impl OpWebhookStore for SqliteStore {
    async fn create_op_endpoint(
        &self,
        account_id: i64,
        input: EndpointInput,
        sealed_secret: String,
        headers: Map<String, Value>,
    ) -> Result<Endpoint> {
        self.write(move |tx| {
            let ep = queue::create_endpoint_of(
                tx,
                Kind::Operational,
                account_id,
                &input,
                &sealed_secret,
            )?;
            if headers.is_empty() {
                return Ok(ep);
            }
            queue::set_headers_of(tx, Kind::Operational, account_id, &ep.id, &headers)?;
            queue::endpoint_of(tx, Kind::Operational, account_id, &ep.id)
        })
        .await
    }
    async fn list_op_endpoints(
        &self,
        account_id: i64,
        limit: i64,
        iterator: Option<&str>,
    ) -> Result<Vec<Endpoint>> {
        let iterator = iterator.map(s);
        self.read(move |tx| {
            queue::list_endpoints_of(
                tx,
                Kind::Operational,
                account_id,
                limit,
                iterator.as_deref(),
            )
        })
        .await
    }
    async fn get_op_endpoint(&self, account_id: i64, id: &str) -> Result<Endpoint> {
        let id = s(id);
        self.read(move |tx| queue::endpoint_of(tx, Kind::Operational, account_id, &id))
            .await
    }
    async fn update_op_endpoint(
        &self,
        account_id: i64,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint> {
        let id = s(id);
        self.write(move |tx| {
            queue::update_endpoint_of(tx, Kind::Operational, account_id, &id, &input)
        })
        .await
    }
    async fn delete_op_endpoint(&self, account_id: i64, id: &str) -> Result<()> {
        let id = s(id);
        self.write(move |tx| queue::delete_endpoint_of(tx, Kind::Operational, account_id, &id))
            .await
    }
    async fn rotate_op_secret(
        &self,
        account_id: i64,
        id: &str,
        sealed_secret: String,
        old_expires_at: i64,
    ) -> Result<Endpoint> {
        let id = s(id);
        self.write(move |tx| {
            queue::rotate_secret_of(
                tx,
                Kind::Operational,
                account_id,
                &id,
                &sealed_secret,
                old_expires_at,
            )
        })
        .await
    }
    async fn set_op_endpoint_headers(
        &self,
        account_id: i64,
        id: &str,
        headers: Map<String, Value>,
    ) -> Result<()> {
        let id = s(id);
        self.write(move |tx| {
            queue::set_headers_of(tx, Kind::Operational, account_id, &id, &headers)
        })
        .await
    }
}
