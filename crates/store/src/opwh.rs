//! Operational webhooks in the store: an account's operational endpoints (managed through
//! [`OpWebhookStore`]) and the events sent to them.
//!
//! An operational endpoint is an `endpoints` row with `operational` set, and an operational
//! event is a `messages` row with `operational` set, queued with one delivery per operational
//! endpoint of the account that wants it, **in the transaction of the change that causes
//! it** (an endpoint created, a delivery exhausted in the worker's batch record, an endpoint
//! disabled by the failure clock's sweep). From there the one delivery queue and worker send
//! it: signed with the operational endpoint's own secret, retried, leased, recorded.
//! Application endpoint lists, fan-out, replays and the message list pass over both kinds of
//! rows, and operational endpoints cause no operational events themselves (no loops).

use serde_json::Value;

use datahooks_domain::delivery::{attempt_signal, AttemptSignal, Trigger};
use datahooks_domain::operational::{task_finished, OpEvent, OpEventType};

use crate::handoff::{endpoint_changes, Completion};

/// Which endpoints a store call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The application's endpoints: they get the account's messages.
    App,
    /// Operational endpoints: they get events about the account's webhook set-up.
    Operational,
}

impl Kind {
    pub(crate) fn flag(self) -> bool {
        self == Kind::Operational
    }
}

crate::shared::opwh::endpoint_store! {
    /// The operational endpoints of an account: implemented once for both backends
    /// (`shared::opwh`), beside the application endpoints of [`crate::EndpointStore`].
    pub trait OpWebhookStore for Kind::Operational, "operational endpoint" {
        create: create_op_endpoint(headers), list: list_op_endpoints, get: get_op_endpoint,
        update: update_op_endpoint, delete: delete_op_endpoint, rotate: rotate_op_secret,
        headers: set_op_endpoint_headers,
    }
}

/// The `message.attempt.*` signals of a batch: `(index in done, signal)` for the attempts
/// whose worker still held the lease (`moved`), as `datahooks_domain::delivery` decides.
pub(crate) fn batch_signals(
    done: &[Completion],
    moved: impl Fn(i64) -> bool,
) -> Vec<(usize, AttemptSignal)> {
    done.iter()
        .enumerate()
        .filter(|(_, c)| moved(c.job.delivery_id))
        .filter_map(|(i, c)| {
            let trigger = Trigger::try_from(c.job.trigger_type).ok()?;
            attempt_signal(trigger, c.outcome(), c.job.attempts).map(|s| (i, s))
        })
        .collect()
}

/// Whether a batch may cause operational events (so a backend records it in a transaction
/// that can also queue them): an attempt with a signal, or an endpoint the batch disables.
pub(crate) fn batch_may_signal(done: &[Completion]) -> bool {
    !batch_signals(done, |_| true).is_empty()
        || endpoint_changes(done, |_| true)
            .iter()
            .any(|(_, ch, _)| ch.disable.is_some())
}

/// The event type of a signal.
pub(crate) fn signal_type(s: AttemptSignal) -> OpEventType {
    match s {
        AttemptSignal::Exhausted => OpEventType::AttemptExhausted,
        AttemptSignal::Failing => OpEventType::AttemptFailing,
        AttemptSignal::Recovered => OpEventType::AttemptRecovered,
    }
}

/// `background_task.finished` for a task record the server stores, once it is no longer
/// running; `None` while it runs (or for a record that is not a task's).
pub(crate) fn task_event(record: &str) -> Option<OpEvent> {
    let v: Value = serde_json::from_str(record).ok()?;
    let status = v.get("status")?.as_str()?;
    if status == "running" {
        return None;
    }
    Some(task_finished(
        v.get("id")?.as_str()?,
        v.get("task")?.as_str()?,
        status,
        v.get("data").cloned().unwrap_or(Value::Null),
    ))
}
