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
use crate::opwh::{batch_signals, signal_type, Kind};
use crate::sql::{from_cols, Cols, Db, Dialect};
use crate::webhooks::{Endpoint, EndpointInput};
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
            timestamp: c.timestamp()?,
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
/// [`super::endpoints`]): a backend implements it once, and [`endpoint_store!`] puts each
/// kind's public trait on top of it ([`crate::webhooks::EndpointStore`] for the application
/// endpoints, [`crate::OpWebhookStore`] for the operational ones).
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

/// Declares one kind's public endpoint trait and implements it for every [`EndpointsOfKind`]
/// as calls with that kind. [`crate::webhooks::EndpointStore`] and [`crate::OpWebhookStore`]
/// are the same seven methods for two kinds of endpoint, so each method (its signature, its
/// docs worded for the kind's noun, which follows "an", and the [`EndpointsOfKind`] call it
/// makes) is written here once; each trait's module keeps only its description:
///
/// ```ignore
/// endpoint_store! {
///     /// The trait's own docs.
///     pub trait OpWebhookStore for Kind::Operational, "operational endpoint" {
///         create: create_op_endpoint(headers), list: list_op_endpoints, get: get_op_endpoint,
///         update: update_op_endpoint, delete: delete_op_endpoint, rotate: rotate_op_secret,
///         headers: set_op_endpoint_headers,
///     }
/// }
/// ```
///
/// `(headers)` gives the create method a custom headers parameter; with `()` the endpoint
/// starts without custom headers (application endpoints set them afterwards).
macro_rules! endpoint_store {
    (
        $(#[$doc:meta])*
        pub trait $name:ident for Kind::$kind:ident, $noun:literal {
            create: $create:ident($($headers:ident)?), list: $list:ident, get: $get:ident,
            update: $update:ident, delete: $delete:ident, rotate: $rotate:ident,
            headers: $set_headers:ident $(,)?
        }
    ) => {
        $crate::shared::opwh::endpoint_store! {
            @methods $(#[$doc])* $name, $kind;

            #[doc = concat!(
                "Creates an ", $noun, " with its sealed secret",
                $(" and custom ", stringify!($headers),)? "."
            )]
            fn $create(
                account_id: i64,
                input: $crate::webhooks::EndpointInput,
                sealed_secret: String,
                $($headers: ::serde_json::Map<String, ::serde_json::Value>,)?
            ) -> $crate::webhooks::Endpoint = create_of(
                account_id,
                input,
                sealed_secret,
                $crate::shared::opwh::endpoint_store!(@headers $($headers)?)
            );

            #[doc = concat!(
                "The account's ", $noun, "s, oldest first, after the `iterator` endpoint id."
            )]
            fn $list(account_id: i64, limit: i64, iterator: Option<&str>)
                -> Vec<$crate::webhooks::Endpoint> = list_of(account_id, limit, iterator);

            #[doc = concat!("An ", $noun, " by id or uid.")]
            fn $get(account_id: i64, id: &str) -> $crate::webhooks::Endpoint
                = get_of(account_id, id);

            #[doc = concat!(
                "Replaces an ", $noun, "'s settings. Re-enabling clears the failure clock."
            )]
            fn $update(account_id: i64, id: &str, input: $crate::webhooks::EndpointInput)
                -> $crate::webhooks::Endpoint = update_of(account_id, id, input);

            #[doc = concat!(
                "Deletes an ", $noun, " and its queued deliveries (attempts stay in the log)."
            )]
            fn $delete(account_id: i64, id: &str) -> () = delete_of(account_id, id);

            /// Sets a new secret; the old one stays valid until `old_expires_at` (unix ms).
            fn $rotate(account_id: i64, id: &str, sealed_secret: String, old_expires_at: i64)
                -> $crate::webhooks::Endpoint
                = rotate_secret_of(account_id, id, sealed_secret, old_expires_at);

            #[doc = concat!("Replaces an ", $noun, "'s custom headers.")]
            fn $set_headers(
                account_id: i64,
                id: &str,
                headers: ::serde_json::Map<String, ::serde_json::Value>,
            ) -> () = set_headers_of(account_id, id, headers);
        }
    };
    // The trait, and its blanket impl: each method passes its arguments to the
    // `EndpointsOfKind` call named after `=`, with the kind first.
    (
        @methods $(#[$doc:meta])* $name:ident, $kind:ident;
        $(
            $(#[$method_doc:meta])*
            fn $method:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty
                = $of:ident($($pass:expr),* $(,)?);
        )*
    ) => {
        $(#[$doc])*
        #[async_trait::async_trait]
        pub trait $name: Send + Sync {
            $(
                $(#[$method_doc])*
                async fn $method(&self, $($arg: $ty),*) -> $crate::Result<$ret>;
            )*
        }

        #[async_trait::async_trait]
        impl<S: $crate::shared::opwh::EndpointsOfKind> $name for S {
            $(
                async fn $method(&self, $($arg: $ty),*) -> $crate::Result<$ret> {
                    self.$of($crate::opwh::Kind::$kind, $($pass),*).await
                }
            )*
        }
    };
    // The create method's headers: the caller's, or none.
    (@headers) => {
        ::serde_json::Map::new()
    };
    (@headers $headers:ident) => {
        $headers
    };
}
pub(crate) use endpoint_store;
