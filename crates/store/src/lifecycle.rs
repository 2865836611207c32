//! A message's life beyond the queue (Svix parity, issue 10): messages created with tags and a
//! payload retention, payload and attempt-response expunge, and the retention sweep that
//! deletes what is old and finished. The rules (which deliveries an expunge cancels, when a
//! payload expires) are `datahooks_domain::delivery`'s; the SQL is written once here with `$n`
//! placeholders, which both backends run. SQLite numbers `$n` parameters in the order they
//! first appear, so each statement uses them in order.

use async_trait::async_trait;

use datahooks_domain::delivery::{DeliveryStatus, CANCELABLE};

use crate::webhooks::{Message, NewMessage};
use crate::Result;

/// What a message shows as its payload once expunged (by the API or its retention period).
pub const EXPIRED_PAYLOAD: &str = r#"{"expired":true}"#;

/// What an attempt shows as its response once expunged (as Svix does).
pub const EXPUNGED_RESPONSE: &str = "EXPUNGED";

/// What the message API sets beyond a [`NewMessage`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageExtras {
    /// Svix tags (already checked).
    pub tags: Vec<String>,
    /// When the payload is expunged by itself (unix ms), from `payloadRetentionPeriod`.
    pub payload_expire_ms: Option<i64>,
}

/// What one [`LifecycleStore::sweep`] pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Messages whose payload retention ran out (payload replaced, pending deliveries canceled).
    pub payloads_expired: u64,
    /// Messages deleted (with their deliveries).
    pub messages: u64,
    /// Attempts deleted.
    pub attempts: u64,
    /// Platform events deleted.
    pub events: u64,
    /// Idempotency rows deleted.
    pub idempotency: u64,
}

impl SweepReport {
    /// Whether some step filled its batch, so another pass has more to do.
    pub fn more(&self, batch: i64) -> bool {
        let full = |n: u64| n >= batch.max(1) as u64;
        full(self.payloads_expired)
            || full(self.messages)
            || full(self.events)
            || full(self.idempotency)
    }

    /// Adds another pass's counts.
    pub fn add(&mut self, o: SweepReport) {
        self.payloads_expired += o.payloads_expired;
        self.messages += o.messages;
        self.attempts += o.attempts;
        self.events += o.events;
        self.idempotency += o.idempotency;
    }
}

/// The message lifecycle.
#[async_trait]
pub trait LifecycleStore {
    /// Like `WebhookStore::create_message`, with tags and a payload expiry, in one transaction.
    async fn create_message_with(
        &self,
        account_id: i64,
        msg: NewMessage,
        extras: MessageExtras,
    ) -> Result<Message>;
    /// Replaces a message's payload (id or eventId) with [`EXPIRED_PAYLOAD`] and cancels its
    /// deliveries that have not gone out; returns how many it canceled.
    async fn expunge_message(&self, account_id: i64, msg_id: &str) -> Result<u64>;
    /// Replaces an attempt's response with [`EXPUNGED_RESPONSE`].
    async fn expunge_attempt(&self, account_id: i64, msg_id: &str, attempt_id: &str) -> Result<()>;
    /// One bounded pass at `now_ms`: expires payloads whose retention ran out, then, when
    /// `retention_ms` is set, deletes up to `batch` messages older than that with no delivery
    /// still to make (and their deliveries and attempts), events and idempotency rows. A
    /// message with a pending or leased delivery is never deleted. Call again while
    /// [`SweepReport::more`].
    async fn sweep(
        &self,
        now_ms: i64,
        retention_ms: Option<i64>,
        batch: i64,
    ) -> Result<SweepReport>;
}

/// `IN (…)` of the statuses an expunge cancels, from the domain rule.
pub(crate) fn cancelable_list() -> String {
    CANCELABLE
        .iter()
        .map(|s| s.code().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `IN (…)` of the statuses `recover` queues again (`domain::delivery::recoverable`).
pub(crate) fn recoverable_list() -> String {
    [
        DeliveryStatus::Success,
        DeliveryStatus::Pending,
        DeliveryStatus::Fail,
        DeliveryStatus::Sending,
        DeliveryStatus::Canceled,
    ]
    .into_iter()
    .filter(|s| datahooks_domain::delivery::recoverable(*s))
    .map(|s| s.code().to_string())
    .collect::<Vec<_>>()
    .join(", ")
}

pub(crate) const SET_EXTRAS: &str =
    "UPDATE messages SET tags = $1, payload_expire_ms = $2 WHERE id = $3";

pub(crate) fn cancel_deliveries_sql() -> String {
    format!(
        "UPDATE deliveries SET status = {}, lease_owner = NULL, lease_until = NULL
          WHERE msg_id = $1 AND status IN ({})",
        DeliveryStatus::Canceled.code(),
        cancelable_list()
    )
}

/// Whether a message's payload was expunged (`$1` its id).
pub(crate) const IS_EXPUNGED: &str =
    "SELECT expunged_ms IS NOT NULL AS expunged FROM messages WHERE id = $1";

/// The refusal to queue an expunged message again (resend): there is nothing left to send.
pub(crate) fn expunged_refusal() -> crate::Error {
    crate::Error::invalid(
        "payload_expunged",
        "This message's payload was expunged: it cannot be sent again.",
    )
}

/// Cancels every delivery still to make to the endpoints of account `$1` (its webhooks were
/// disabled).
pub(crate) fn cancel_account_deliveries_sql() -> String {
    format!(
        "UPDATE deliveries SET status = {}, lease_owner = NULL, lease_until = NULL
          WHERE status IN ({}) AND endpoint_id IN (SELECT id FROM endpoints WHERE account_id = $1)",
        DeliveryStatus::Canceled.code(),
        cancelable_list()
    )
}

pub(crate) const EXPUNGE_PAYLOAD: &str =
    "UPDATE messages SET payload = $1, expunged_ms = $2 WHERE id = $3";

pub(crate) const EXPUNGE_ATTEMPT: &str =
    "UPDATE attempts SET response = $1 WHERE account_id = $2 AND msg_id = $3 AND id = $4";

/// Messages whose payload retention ran out at `$1`, oldest first, at most `$2`.
pub(crate) const EXPIRED_PAYLOADS: &str =
    "SELECT id FROM messages WHERE payload_expire_ms IS NOT NULL AND expunged_ms IS NULL
       AND payload_expire_ms <= $1 ORDER BY payload_expire_ms, id LIMIT $2";

/// Messages created before `$1` with no delivery still to make, oldest first, at most `$2`.
pub(crate) fn old_messages_sql() -> String {
    format!(
        "SELECT m.id FROM messages m WHERE m.created_ms < $1
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN ({}))
         ORDER BY m.created_ms, m.seq LIMIT $2",
        cancelable_list()
    )
}

/// Deletes one old message unless a delivery to make appeared meanwhile (a resend); its
/// deliveries go with it (`ON DELETE CASCADE`).
pub(crate) fn delete_message_sql() -> String {
    format!(
        "DELETE FROM messages WHERE id = $1
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = $1 AND d.status IN ({}))",
        cancelable_list()
    )
}

pub(crate) const DELETE_ATTEMPTS: &str = "DELETE FROM attempts WHERE msg_id = $1";

/// Events created before `$1` (RFC 3339 text in one fixed form: text order is time order).
pub(crate) const DELETE_EVENTS: &str =
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < $1 ORDER BY seq LIMIT $2)";

pub(crate) const DELETE_IDEMPOTENCY: &str =
    "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE created_ms < $1 LIMIT $2)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_follows_the_domain_rule() {
        assert_eq!(cancelable_list(), "1, 3");
        assert_eq!(recoverable_list(), "2, 4");
        assert!(cancel_deliveries_sql().contains("SET status = 4"));
        let r = SweepReport {
            messages: 10,
            ..Default::default()
        };
        assert!(r.more(10) && !r.more(11));
    }
}
