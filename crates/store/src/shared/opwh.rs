//! Operational webhooks (see `crate::opwh`): one text for both backends. The events are
//! queued to the account's operational endpoints inside the transaction of the change that
//! causes them; the operational endpoints themselves are [`super::endpoints`] of
//! [`Kind::Operational`].

use std::collections::HashSet;

use async_trait::async_trait;

use serde_json::{Map, Value};

use datahooks_domain::delivery::{disables, EndpointChange, EndpointState};
use datahooks_domain::operational::{
    attempt_event, endpoint_disabled, endpoint_event as op_endpoint_event, op_endpoint_wants,
    update_events as op_update_events, DisableTrigger, EndpointRef, LastAttempt, OpEvent,
    OpEventType,
};

use super::endpoints::list_of;
use crate::handoff::Completion;
use crate::opwh::{batch_signals, signal_type, Kind, OpWebhookStore};
use crate::sql::{from_cols, Cols, Db, Dialect};
use crate::webhooks::{Endpoint, EndpointInput, EndpointStore};
use crate::Result;

/// Queues `ev` to the account's enabled operational endpoints that want it. Writes nothing
/// when there is none, so accounts without operational endpoints pay one indexed read.
pub(crate) async fn emit(db: &impl Db, account_id: i64, ev: &OpEvent) -> Result<()> {
    if !wanted(db, account_id, ev.event_type).await? {
        return Ok(());
    }
    db.queue_op_event(account_id, ev).await
}

/// Whether an enabled operational endpoint of the account wants events of type `t`.
async fn wanted(db: &impl Db, account_id: i64, t: OpEventType) -> Result<bool> {
    let sql = wanted_sql(db.dialect());
    let found: Vec<Option<String>> = db
        .rows(&sql, &[&account_id], |r| r.get("event_types"))
        .await?;
    for types in found {
        if op_endpoint_wants(list_of(types)?.as_deref(), t) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The read behind [`wanted`]: the account's enabled operational endpoints' event types,
/// spelled as the partial index `endpoints_operational` is, so that it serves (SQLite takes a
/// partial index only for a condition written like its own).
pub(crate) fn wanted_sql(d: Dialect) -> String {
    format!(
        "SELECT event_types FROM endpoints
         WHERE account_id = $1 AND operational = {} AND disabled = {}",
        d.flag(true),
        d.flag(false)
    )
}

/// The event's view of an endpoint: its ids and its application's.
async fn endpoint_ref(
    db: &impl Db,
    account_id: i64,
    endpoint_id: &str,
    uid: Option<String>,
) -> Result<EndpointRef> {
    let account_name = db
        .one(
            "SELECT name FROM accounts WHERE id = $1",
            &[&account_id],
            |r| r.get("name"),
        )
        .await?;
    Ok(EndpointRef {
        account_id,
        account_name,
        endpoint_id: endpoint_id.to_owned(),
        endpoint_uid: uid,
    })
}

/// `endpoint.created|deleted` (and the like) for an application endpoint.
pub(crate) async fn endpoint_event(db: &impl Db, ep: &Endpoint, t: OpEventType) -> Result<()> {
    let r = endpoint_ref(db, ep.account_id, &ep.id, ep.uid.clone()).await?;
    emit(db, ep.account_id, &op_endpoint_event(t, &r)).await
}

/// `endpoint.updated`, and `endpoint.disabled|enabled` when a user flipped its state.
pub(crate) async fn update_events(db: &impl Db, ep: &Endpoint, was_disabled: bool) -> Result<()> {
    let r = endpoint_ref(db, ep.account_id, &ep.id, ep.uid.clone()).await?;
    for ev in op_update_events(&r, was_disabled, ep.disabled) {
        emit(db, ep.account_id, &ev).await?;
    }
    Ok(())
}

/// An application endpoint by id alone: its account, uid and failure clock (`None` for an
/// operational endpoint, which causes no operational events, or one deleted meanwhile).
/// `lock` keeps it until the transaction ends where the backend has concurrent writers (read
/// before a change that may disable it).
pub(crate) async fn app_endpoint(
    db: &impl Db,
    id: &str,
    lock: bool,
) -> Result<Option<(i64, Option<String>, EndpointState)>> {
    let lock = if lock { db.dialect().lock_row() } else { "" };
    let sql = format!(
        "SELECT account_id, uid, disabled, disabled_reason, first_failure_at
         FROM endpoints WHERE id = $1 AND NOT operational{lock}"
    );
    db.opt(&sql, &[&id], |r| {
        Ok((
            r.get("account_id")?,
            r.get("uid")?,
            from_cols!(r => EndpointState {
                disabled, reason = "disabled_reason", first_failure_at
            }),
        ))
    })
    .await
}

/// The state, before the batch, of each endpoint whose folded change disables something.
pub(crate) async fn states_before(
    db: &impl Db,
    folded: &[(String, EndpointChange, i64)],
) -> Result<Vec<(String, EndpointState)>> {
    let mut out = Vec::new();
    for (ep, ch, _) in folded.iter().filter(|(_, ch, _)| ch.disable.is_some()) {
        if let Some((_, _, state)) = app_endpoint(db, ep, false).await? {
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
pub(crate) async fn after_batch(
    db: &impl Db,
    done: &[Completion],
    moved: &HashSet<i64>,
    attempt_ids: &[String],
    folded: &[(String, EndpointChange, i64)],
    disabling: &[(String, EndpointState)],
) -> Result<()> {
    for (i, signal) in batch_signals(done, |id| moved.contains(&id)) {
        let c = &done[i];
        // Most accounts have no operational endpoint: one read, and nothing more to look up.
        if !wanted(db, c.job.account_id, signal_type(signal)).await? {
            continue;
        }
        let Some((account_id, uid, _)) = app_endpoint(db, &c.job.endpoint_id, false).await? else {
            continue;
        };
        let event_id: Option<String> = db
            .opt(
                "SELECT event_id FROM messages WHERE id = $1",
                &[&c.job.msg_id],
                |r| r.get("event_id"),
            )
            .await?
            .flatten();
        let r = endpoint_ref(db, account_id, &c.job.endpoint_id, uid).await?;
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
        emit(db, account_id, &ev).await?;
    }
    for (ep, before) in disabling {
        if folded.iter().any(|(e, _, _)| e == ep) {
            disabled_event(db, ep, Some(before)).await?;
        }
    }
    Ok(())
}

/// `endpoint.disabled` for an endpoint the failure clock's sweep just disabled.
pub(crate) async fn disabled_by_clock(db: &impl Db, id: &str) -> Result<()> {
    disabled_event(db, id, None).await
}

/// `endpoint.disabled`, disabled automatically, for an application endpoint: its run of
/// failures began as `before` (read before the change) says, or else as it is stored.
async fn disabled_event(db: &impl Db, id: &str, before: Option<&EndpointState>) -> Result<()> {
    let Some((account_id, uid, stored)) = app_endpoint(db, id, false).await? else {
        return Ok(());
    };
    let since = before.unwrap_or(&stored).first_failure_at;
    let r = endpoint_ref(db, account_id, id, uid).await?;
    let ev = endpoint_disabled(&r, DisableTrigger::Automatic, fail_since(since));
    emit(db, account_id, &ev).await
}

/// A store's endpoints of either kind, each call in a transaction of its own (running
/// [`super::endpoints`]): a backend implements it once, for its application endpoints
/// (`WebhookStore`) and its operational ones ([`OpWebhookStore`], implemented here on top).
#[async_trait]
pub(crate) trait EndpointsOfKind: Send + Sync {
    async fn create_of(
        &self,
        kind: Kind,
        account_id: i64,
        input: EndpointInput,
        sealed_secret: String,
        headers: Map<String, Value>,
    ) -> Result<Endpoint>;
    async fn list_of(
        &self,
        kind: Kind,
        account_id: i64,
        limit: i64,
        iterator: Option<&str>,
    ) -> Result<Vec<Endpoint>>;
    async fn get_of(&self, kind: Kind, account_id: i64, id: &str) -> Result<Endpoint>;
    async fn update_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint>;
    async fn delete_of(&self, kind: Kind, account_id: i64, id: &str) -> Result<()>;
    async fn rotate_secret_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        sealed_secret: String,
        old_expires_at: i64,
    ) -> Result<Endpoint>;
    async fn set_headers_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        headers: Map<String, Value>,
    ) -> Result<()>;
}

const OP: Kind = Kind::Operational;

#[async_trait]
impl<S: EndpointsOfKind> OpWebhookStore for S {
    async fn create_op_endpoint(
        &self,
        account_id: i64,
        input: EndpointInput,
        sealed_secret: String,
        headers: Map<String, Value>,
    ) -> Result<Endpoint> {
        self.create_of(OP, account_id, input, sealed_secret, headers)
            .await
    }
    async fn list_op_endpoints(
        &self,
        account_id: i64,
        limit: i64,
        iterator: Option<&str>,
    ) -> Result<Vec<Endpoint>> {
        self.list_of(OP, account_id, limit, iterator).await
    }
    async fn get_op_endpoint(&self, account_id: i64, id: &str) -> Result<Endpoint> {
        self.get_of(OP, account_id, id).await
    }
    async fn update_op_endpoint(
        &self,
        account_id: i64,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint> {
        self.update_of(OP, account_id, id, input).await
    }
    async fn delete_op_endpoint(&self, account_id: i64, id: &str) -> Result<()> {
        self.delete_of(OP, account_id, id).await
    }
    async fn rotate_op_secret(
        &self,
        account_id: i64,
        id: &str,
        sealed_secret: String,
        old_expires_at: i64,
    ) -> Result<Endpoint> {
        self.rotate_secret_of(OP, account_id, id, sealed_secret, old_expires_at)
            .await
    }
    async fn set_op_endpoint_headers(
        &self,
        account_id: i64,
        id: &str,
        headers: Map<String, Value>,
    ) -> Result<()> {
        self.set_headers_of(OP, account_id, id, headers).await
    }
}

const APP: Kind = Kind::App;

#[async_trait]
impl<S: EndpointsOfKind> EndpointStore for S {
    async fn create_endpoint(
        &self,
        account_id: i64,
        input: EndpointInput,
        sealed_secret: String,
    ) -> Result<Endpoint> {
        self.create_of(APP, account_id, input, sealed_secret, Map::new())
            .await
    }
    async fn list_endpoints(
        &self,
        account_id: i64,
        limit: i64,
        iterator: Option<&str>,
    ) -> Result<Vec<Endpoint>> {
        self.list_of(APP, account_id, limit, iterator).await
    }
    async fn get_endpoint(&self, account_id: i64, id: &str) -> Result<Endpoint> {
        self.get_of(APP, account_id, id).await
    }
    async fn update_endpoint(
        &self,
        account_id: i64,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint> {
        self.update_of(APP, account_id, id, input).await
    }
    async fn delete_endpoint(&self, account_id: i64, id: &str) -> Result<()> {
        self.delete_of(APP, account_id, id).await
    }
    async fn rotate_secret(
        &self,
        account_id: i64,
        id: &str,
        sealed_secret: String,
        old_expires_at: i64,
    ) -> Result<Endpoint> {
        self.rotate_secret_of(APP, account_id, id, sealed_secret, old_expires_at)
            .await
    }
    async fn set_endpoint_headers(
        &self,
        account_id: i64,
        id: &str,
        headers: Map<String, Value>,
    ) -> Result<()> {
        self.set_headers_of(APP, account_id, id, headers).await
    }
}
