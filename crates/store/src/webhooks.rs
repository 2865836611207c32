//! The webhook half of the store: endpoints, messages, the durable delivery queue and the
//! attempt log.
//!
//! Queue states of a delivery (one message to one endpoint): `Pending` (due at a time),
//! `Sending` (leased by a worker until a time), `Success`, `Fail` (retries exhausted). A lease
//! that runs out makes the delivery due again, so a dead worker's work is taken over:
//! at-least-once, never lost.

use async_trait::async_trait;
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::Notify;

use crate::Result;

pub use crate::handoff::{Completion, Handoff};

pub use datahooks_domain::delivery::{DeliveryStatus, Trigger};

/// An endpoint as stored. Secrets are stored sealed (see `datahooks_webhooks::vault`).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `ep_…`.
    pub id: String,
    /// Owning account.
    pub account_id: i64,
    /// Optional client-chosen unique id.
    pub uid: Option<String>,
    /// Destination URL.
    pub url: String,
    /// Description.
    pub description: String,
    /// Version number the user gave it.
    pub version: i64,
    /// Subscribed event types (`None` = all).
    pub event_types: Option<Vec<String>>,
    /// Datasets (`owner/name`) it is limited to (`None` = all).
    pub channels: Option<Vec<String>>,
    /// Disabled endpoints get no new deliveries and their queued ones wait.
    pub disabled: bool,
    /// Why it was disabled (`manual`, `gone`, `failing`).
    pub disabled_reason: Option<String>,
    /// Messages per second at most.
    pub throttle_rate: Option<i64>,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
    /// Custom headers sent with each delivery.
    pub headers: Map<String, Value>,
    /// Current signing secret, sealed.
    pub secret: String,
    /// Previous secrets still valid, sealed, with their expiry (unix ms).
    pub old_secrets: Vec<(String, i64)>,
    /// Created (API format).
    pub created_at: String,
    /// Changed (API format).
    pub updated_at: String,
    /// Start of the current run of failures (unix ms), cleared by a success.
    pub first_failure_at: Option<i64>,
}

/// An endpoint's enabled state and failure clock, for `datahooks_domain::delivery`.
pub(crate) fn endpoint_state(e: &Endpoint) -> datahooks_domain::delivery::EndpointState {
    datahooks_domain::delivery::EndpointState {
        disabled: e.disabled,
        reason: e.disabled_reason.clone(),
        first_failure_at: e.first_failure_at,
    }
}

/// The error for a rotation past `datahooks_domain::delivery::MAX_OLD_SECRETS`.
pub(crate) fn old_secrets_limit() -> crate::Error {
    crate::Error::invalid(
        "limit_reached",
        format!(
            "At most {} previous secrets may be valid at once.",
            datahooks_domain::delivery::MAX_OLD_SECRETS
        ),
    )
}

/// What a client sets on an endpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointInput {
    /// Destination URL (already checked against the destination policy).
    pub url: String,
    /// Description.
    pub description: String,
    /// Version.
    pub version: i64,
    /// Subscribed types.
    pub event_types: Option<Vec<String>>,
    /// Channels.
    pub channels: Option<Vec<String>>,
    /// Disabled.
    pub disabled: bool,
    /// Rate limit.
    pub throttle_rate: Option<i64>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Client id.
    pub uid: Option<String>,
}

/// The settings of a stored endpoint, as an input: what a PATCH starts from and what the
/// page's forms change one field of. Next to both structs, so that a new field is copied here.
impl From<&Endpoint> for EndpointInput {
    fn from(e: &Endpoint) -> EndpointInput {
        EndpointInput {
            url: e.url.clone(),
            description: e.description.clone(),
            version: e.version,
            event_types: e.event_types.clone(),
            channels: e.channels.clone(),
            disabled: e.disabled,
            throttle_rate: e.throttle_rate,
            metadata: e.metadata.clone(),
            uid: e.uid.clone(),
        }
    }
}

/// A message: one event of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `msg_…`.
    pub id: String,
    /// Owning account.
    pub account_id: i64,
    /// Event type.
    pub event_type: String,
    /// Client-given unique id.
    pub event_id: Option<String>,
    /// Channels (the dataset for platform events).
    pub channels: Vec<String>,
    /// Exact payload JSON (`{"expired": true}` once expunged).
    pub payload: String,
    /// Created (API format).
    pub created_at: String,
    /// Creation order.
    pub seq: i64,
    /// Svix tags (given through the message API; platform events have none).
    pub tags: Vec<String>,
}

/// A message to create through the API.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Event type.
    pub event_type: String,
    /// Client-given unique id.
    pub event_id: Option<String>,
    /// Channels.
    pub channels: Vec<String>,
    /// Payload JSON.
    pub payload: String,
    /// Deliver only to this endpoint (send-example), regardless of subscriptions.
    pub only_endpoint: Option<String>,
}

/// One attempt to deliver a message to an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// `atmpt_…`.
    pub id: String,
    /// Message.
    pub msg_id: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// URL it went to.
    pub url: String,
    /// 0 success, 2 fail.
    pub status: i64,
    /// HTTP status (0 if none).
    pub response_status_code: i64,
    /// First 20,000 bytes of the response, or the error.
    pub response: String,
    /// Duration in ms.
    pub duration_ms: i64,
    /// 0 scheduled, 1 manual.
    pub trigger_type: i64,
    /// When (API format).
    pub timestamp: String,
}

impl Attempt {
    /// Svix's `statusText` of the attempt. The store checked the number when it read the row.
    pub fn status_text(&self) -> &'static str {
        DeliveryStatus::try_from(self.status)
            .map(DeliveryStatus::text)
            .unwrap_or("unknown")
    }
}

/// A leased delivery, with all the worker needs to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryJob {
    /// Queue row.
    pub delivery_id: i64,
    /// The endpoint's account (the attempt log is kept per account).
    pub account_id: i64,
    /// Message id (the `webhook-id`).
    pub msg_id: String,
    /// Endpoint id.
    pub endpoint_id: String,
    /// URL.
    pub url: String,
    /// Sealed secrets to sign with (current first).
    pub secrets: Vec<String>,
    /// Custom headers.
    pub headers: Map<String, Value>,
    /// Payload JSON.
    pub payload: String,
    /// Attempts already made.
    pub attempts: i64,
    /// 0 scheduled, 1 manual (manual runs once).
    pub trigger_type: i64,
    /// Endpoint rate limit.
    pub throttle_rate: Option<i64>,
    /// The trace context (W3C `traceparent`) of the call that queued the message, if traces
    /// were exported then: each attempt's span is its child (see [`crate::trace`]).
    pub traceparent: Option<String>,
}

/// What a worker learned from one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    /// HTTP status (0 if none).
    pub status_code: i64,
    /// Response body or error text.
    pub response: String,
    /// Duration in ms.
    pub duration_ms: i64,
    /// 2xx.
    pub success: bool,
    /// Next attempt time (unix ms), `None` when no retry is left.
    pub retry_at: Option<i64>,
    /// Disable the endpoint with this reason (e.g. `gone` after a 410).
    pub disable: Option<String>,
}

/// Filters for message and attempt lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListFilter {
    /// At most this many.
    pub limit: i64,
    /// Continue after this cursor (a seq, as text).
    pub iterator: Option<String>,
    /// Only these event types.
    pub event_types: Vec<String>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this delivery status.
    pub status: Option<i64>,
    /// Only this endpoint.
    pub endpoint_id: Option<String>,
    /// Created before (unix ms).
    pub before: Option<i64>,
    /// Created after (unix ms).
    pub after: Option<i64>,
    /// Only messages (or attempts of messages) carrying this tag.
    pub tag: Option<String>,
}

/// Counts of deliveries of an endpoint by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    /// Delivered.
    pub success: i64,
    /// Waiting.
    pub pending: i64,
    /// In flight.
    pub sending: i64,
    /// Exhausted.
    pub fail: i64,
    /// Canceled (payload expunged before it went out).
    pub canceled: i64,
}

/// A message's state towards one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryView {
    /// Endpoint id.
    pub endpoint_id: String,
    /// Message id.
    pub msg_id: String,
    /// Status.
    pub status: DeliveryStatus,
    /// Next attempt (unix ms) if pending.
    pub next_attempt: Option<i64>,
}

/// An endpoint's delivery pace as a worker last saved it (see `datahooks_webhooks::pace`).
#[derive(Debug, Clone, PartialEq)]
pub struct PaceRecord {
    /// `open`, `paused`, `down` or `probing`.
    pub state: String,
    /// End of the pause, or time of the next probe (unix ms).
    pub until: Option<i64>,
    /// Deliveries it may have in flight.
    pub limit: i64,
    /// Send rate (per second) learned from the receiver's 429s, if any.
    pub rate_cap: Option<f64>,
    /// Successful deliveries per second over the last 10 s, when saved.
    pub recent_rate: f64,
    /// When it was saved (unix ms).
    pub updated_at: i64,
}

/// What a request with an idempotency key finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent {
    /// The key is new: this request runs, and records its response with `idempotency_finish`.
    Run,
    /// A request with this key is still running.
    InFlight,
    /// A request with this key finished: its status and body.
    Done(u16, Vec<u8>),
}

crate::shared::opwh::endpoint_store! {
    /// An account's (application) endpoints. Implemented once for both backends
    /// (`shared::opwh`), beside the operational endpoints of [`crate::OpWebhookStore`].
    pub trait EndpointStore for Kind::App, "endpoint" {
        create: create_endpoint(), list: list_endpoints, get: get_endpoint,
        update: update_endpoint, delete: delete_endpoint, rotate: rotate_secret,
        headers: set_endpoint_headers,
    }
}

/// Webhook state and the delivery queue.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Notified after every commit that may have queued deliveries: workers wait on it.
    fn wakeup(&self) -> Arc<Notify>;

    /// Delivery counts by status.
    async fn endpoint_stats(&self, account_id: i64, id: &str) -> Result<EndpointStats>;

    /// Creates a message and queues its deliveries (`only_endpoint` forces one endpoint).
    async fn create_message(&self, account_id: i64, msg: NewMessage) -> Result<Message>;
    /// Messages of an account, newest first.
    async fn list_messages(&self, account_id: i64, filter: &ListFilter) -> Result<Vec<Message>>;
    /// A message by id or event id.
    async fn get_message(&self, account_id: i64, id: &str) -> Result<Message>;
    /// A message's state towards each endpoint it was queued for.
    async fn message_deliveries(&self, account_id: i64, msg_id: &str) -> Result<Vec<DeliveryView>>;
    /// Attempts, newest first (filter by `endpoint_id`, message via `msg_id`).
    async fn list_attempts(
        &self,
        account_id: i64,
        msg_id: Option<&str>,
        filter: &ListFilter,
    ) -> Result<Vec<Attempt>>;
    /// One attempt.
    async fn get_attempt(&self, account_id: i64, msg_id: &str, attempt_id: &str)
        -> Result<Attempt>;
    /// Queues one manual attempt of a message to an endpoint.
    async fn resend(&self, account_id: i64, msg_id: &str, endpoint_id: &str) -> Result<()>;
    /// Queues manual attempts of the messages that failed (and never succeeded) on an endpoint
    /// in `[since, until)`; returns how many.
    async fn recover(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since: i64,
        until: i64,
    ) -> Result<i64>;
    /// Queues manual attempts of the messages created in `[since, until)` that were never
    /// queued for the endpoint; returns how many.
    async fn replay_missing(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since: i64,
        until: i64,
    ) -> Result<i64>;

    /// Leases up to `limit` due deliveries to `node` until `lease_until` (unix ms).
    async fn claim_due(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryJob>> {
        self.claim_due_except(node, now, lease_until, limit, &[])
            .await
    }
    /// Like `claim_due`, passing over deliveries to the endpoints in `skip` (those this node
    /// already has enough deliveries in flight to, so one slow endpoint cannot take every slot).
    async fn claim_due_except(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<DeliveryJob>>;
    /// Records an attempt and moves the delivery on (done, retry at a time, or failed).
    async fn complete_delivery(
        &self,
        node: &str,
        job: &DeliveryJob,
        result: AttemptResult,
        now: i64,
    ) -> Result<()> {
        self.complete_deliveries(
            node,
            vec![Completion {
                job: job.clone(),
                result,
                at: now,
            }],
        )
        .await
    }
    /// Records a batch of attempts (in the order they were made) and moves each delivery on
    /// as `datahooks_domain::delivery` decides: one statement per table, and on PostgreSQL
    /// one round trip. Only the lease holder's outcomes move a delivery and its endpoint's
    /// failure clock; every attempt is logged.
    async fn complete_deliveries(&self, node: &str, done: Vec<Completion>) -> Result<()>;
    /// Hands deliveries leased to `node` back to the queue, due now (a worker that took more
    /// than it can start soon, or is stopping). Returns how many were still its own.
    async fn release_deliveries(&self, node: &str, ids: &[i64], now: i64) -> Result<i64>;
    /// From now on, deliveries that this store's commits queue are leased to `handoff`'s node
    /// in the same transaction and handed to it in memory after the commit (no claim, no
    /// re-read). One worker per store; `None` stops the hand-off (the worker is stopping).
    fn attach_worker(&self, handoff: Option<Arc<Handoff>>);
    /// Disables endpoints whose failures started before `cutoff` (unix ms) with no success since.
    async fn disable_failing_endpoints(&self, cutoff: i64) -> Result<i64>;
    /// Reserves the next send slot of an endpoint limited to `rate` messages per second:
    /// returns when (unix ms) this send may start. Shared by every node, so the limit holds
    /// for the endpoint as a whole.
    async fn reserve_send_slot(&self, _endpoint_id: &str, _rate: i64, _now: i64) -> Result<i64> {
        Err(crate::Error::Unsupported(
            "throttling is not stored by this backend".into(),
        ))
    }
    /// Claims an idempotency key (kept until `expired_before`, unix ms, passes), or finds the
    /// response of the request that claimed it.
    async fn idempotency_begin(
        &self,
        _key: &str,
        _now: i64,
        _expired_before: i64,
    ) -> Result<Idempotent> {
        Err(crate::Error::Unsupported(
            "idempotency keys are not stored by this backend".into(),
        ))
    }
    /// Records the response for a claimed key; `None` releases the key (the request may be
    /// retried, e.g. after a 5xx).
    async fn idempotency_finish(
        &self,
        _key: &str,
        _response: Option<(u16, Vec<u8>)>,
    ) -> Result<()> {
        Err(crate::Error::Unsupported(
            "idempotency keys are not stored by this backend".into(),
        ))
    }
    /// Creates or replaces a background task's record.
    async fn put_task(&self, _id: &str, _account_id: i64, _record: &str, _now: i64) -> Result<()> {
        Err(crate::Error::Unsupported(
            "tasks are not stored by this backend".into(),
        ))
    }
    /// A task's account and record.
    async fn get_task(&self, _id: &str) -> Result<Option<(i64, String)>> {
        Err(crate::Error::Unsupported(
            "tasks are not stored by this backend".into(),
        ))
    }
    /// The 100 most recent tasks of these accounts.
    async fn list_tasks(&self, _accounts: &[i64]) -> Result<Vec<String>> {
        Err(crate::Error::Unsupported(
            "tasks are not stored by this backend".into(),
        ))
    }
    /// Hands back the leases `node` holds, making its in-flight deliveries due now. Called by a
    /// node at start-up: a lease it held before a crash is certainly not being worked on, so
    /// there is no need to wait for it to run out.
    async fn release_leases(&self, _node: &str, _now: i64) -> Result<i64> {
        Ok(0)
    }
    /// When the next delivery falls due (unix ms), if any.
    async fn next_due(&self) -> Result<Option<i64>> {
        self.next_due_except(&[]).await
    }
    /// When the next delivery a worker could claim falls due (unix ms): pending rows of
    /// enabled endpoints not in `skip` (those this node has as many deliveries in flight to as
    /// it may), and leases that run out. Mirrors `claim_due_except`, so a worker that sleeps
    /// until this time wakes to work it can take, and never spins on work it cannot.
    async fn next_due_except(&self, skip: &[String]) -> Result<Option<i64>>;

    // ---- the pace of an endpoint (see `datahooks_webhooks::pace`) ----

    /// Gives a leased delivery back to the queue, due at `until`, without counting an attempt
    /// or touching the endpoint's failure clock: it was held back, not failed. `refusal`, the
    /// receiver's answer that made it wait (a 429), is logged as a failed attempt. Returns
    /// false if `node` no longer held the lease (then nothing but the log changes).
    async fn defer_delivery(
        &self,
        node: &str,
        job: &DeliveryJob,
        until: i64,
        refusal: Option<AttemptResult>,
        now: i64,
    ) -> Result<bool>;
    /// Holds every waiting delivery of an endpoint until `until` (those due earlier become
    /// due then; attempts unchanged), so no node claims them before, and saves the pace.
    /// Returns how many were held.
    async fn hold_endpoint(&self, endpoint_id: &str, until: i64, pace: &PaceRecord) -> Result<u64>;
    /// Saves the pace a worker learned for an endpoint.
    async fn save_pace(&self, endpoint_id: &str, pace: &PaceRecord) -> Result<()>;
    /// The last saved pace of an endpoint, if a worker has sent to it since the upgrade.
    async fn endpoint_pace(&self, account_id: i64, id: &str) -> Result<Option<PaceRecord>>;
    /// Deliveries not yet finished (pending or sending).
    async fn queue_depth(&self) -> Result<(i64, Option<i64>)>;
}
