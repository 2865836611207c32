//! What the event stream (`GET /api/v1/app/{app}/stream`, used by `datahooks listen`) needs:
//! an account's messages in `seq` order after a given one, a signal on every commit, and the
//! attempts a listen session reports back.
//!
//! A listen session forwards through the developer's own machine, so the server cannot see the
//! answer: the CLI reports it (`POST …/stream/ack`) and it is recorded as an attempt of the
//! account's **listen endpoint**, an endpoint with uid [`LISTEN_UID`] kept disabled with reason
//! [`LISTEN_REASON`] so the worker never queues deliveries to it. That keeps the message log
//! truthful: every forwarded event shows one attempt per session with the local answer, its
//! status code and its duration, next to the other endpoints' attempts.

use async_trait::async_trait;

use crate::webhooks::{Attempt, Message};
use crate::Result;

/// The uid of an account's listen endpoint.
pub const LISTEN_UID: &str = "datahooks-listen";
/// The `disabled_reason` that marks the listen endpoint.
pub const LISTEN_REASON: &str = "listen";

/// One local answer, reported by a listen session.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    /// The message forwarded.
    pub msg_id: String,
    /// The account's listen endpoint.
    pub endpoint_id: String,
    /// Where the CLI forwarded it (on the developer's machine).
    pub url: String,
    /// HTTP status (0 when there was no answer).
    pub status_code: i64,
    /// The answer's body (or the error), cut like a delivery's.
    pub response: String,
    /// Duration in ms.
    pub duration_ms: i64,
}

/// Reads for the stream and the record of forwarded events.
#[async_trait]
pub trait StreamStore {
    /// Changes (to a counter) after every commit that may have added messages; every
    /// receiver sees it, unlike the worker's `wakeup` permit.
    fn commits(&self) -> tokio::sync::watch::Receiver<u64>;
    /// An account's messages with `seq > after`, in `seq` order, at most `limit`.
    async fn messages_after(&self, account_id: i64, after: i64, limit: i64)
        -> Result<Vec<Message>>;
    /// The seq of the account's newest message (0 when none).
    async fn last_message_seq(&self, account_id: i64) -> Result<i64>;
    /// Marks an endpoint as the account's listen endpoint: disabled, reason
    /// [`LISTEN_REASON`].
    async fn mark_listen_endpoint(&self, account_id: i64, endpoint_id: &str) -> Result<()>;
    /// Records a forwarded event as an attempt of the listen endpoint (success for a 2xx).
    /// Not found unless the message is the account's and the endpoint its listen endpoint.
    async fn record_forwarded(&self, account_id: i64, f: Forwarded) -> Result<Attempt>;
}

/// Whether a forwarded answer counts as a success (as for deliveries: any 2xx).
pub(crate) fn succeeded(status_code: i64) -> bool {
    (200..300).contains(&status_code)
}

impl Forwarded {
    /// The attempt this forwarded event is logged as (one rule for both backends): a
    /// scheduled attempt of the listen endpoint, success when the local answer was 2xx.
    pub(crate) fn attempt(&self, id: String, timestamp: String) -> Attempt {
        Attempt {
            id,
            msg_id: self.msg_id.clone(),
            endpoint_id: self.endpoint_id.clone(),
            url: self.url.clone(),
            status: if succeeded(self.status_code) { 0 } else { 2 },
            response_status_code: self.status_code,
            response: self.response.clone(),
            duration_ms: self.duration_ms,
            trigger_type: 0,
            timestamp,
        }
    }
}
