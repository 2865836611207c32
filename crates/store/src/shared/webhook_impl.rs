//! [`WebhookStore`] and the endpoints of either kind ([`EndpointsOfKind`], which
//! `OpWebhookStore` is written on), implemented once for both backends with
//! [`crate::both::on_both!`].
//!
//! What is "open a transaction and call the shared code" is written once, below the blocks.
//! The delivery queue's hot path is not: it calls each backend's own `queue` (synchronous
//! rusqlite on SQLite's writer thread, one-round-trip statements on PostgreSQL), and a
//! message arriving on PostgreSQL joins the group commit (`ingest`). Those methods stand once
//! in each backend's block.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::opwh::Kind;
use crate::shared::messages::{self, send_again, Again};
use crate::shared::opwh::EndpointsOfKind;
use crate::shared::{endpoints, new_id, pace, tasks};
use crate::webhooks::{
    Attempt, AttemptResult, Completion, DeliveryJob, DeliveryView, Endpoint, EndpointInput,
    EndpointStats, Handoff, Idempotent, ListFilter, Message, NewMessage, PaceRecord, WebhookStore,
};
use crate::{postgres, sqlite, Result};

crate::both::on_both! {
    impl WebhookStore;
    items {
        fn wakeup(&self) -> Arc<Notify> {
            self.notify()
        }
        fn attach_worker(&self, handoff: Option<Arc<Handoff>>) {
            self.set_handoff(handoff);
        }
    }
    sqlite {
        async fn create_message(&self, account_id: i64, msg: NewMessage) -> Result<Message> {
            self.write(move |tx| {
                let (id, event_id) = (new_id("msg"), msg.event_id.as_deref());
                let (channels, only) = (&msg.channels, msg.only_endpoint.as_deref());
                let (event_type, payload) = (&msg.event_type, &msg.payload);
                sqlite::queue::insert_message_of(
                    tx, Kind::App, account_id, &id, event_type, event_id, channels, payload, only,
                )
            })
            .await
        }
        async fn claim_due_except(
            &self, node: &str, now: i64, lease_until: i64, limit: i64, skip: &[String],
        ) -> Result<Vec<DeliveryJob>> {
            let (node, skip) = (node.to_owned(), skip.to_vec());
            self.write_relaxed(move |tx| {
                sqlite::queue::claim_due(tx, &node, now, lease_until, limit, &skip)
            })
            .await
        }
        async fn complete_deliveries(&self, node: &str, done: Vec<Completion>) -> Result<()> {
            let node = node.to_owned();
            if crate::opwh::batch_may_signal(&done) {
                // It may queue operational events: they are changes, and wait for the disk.
                return self
                    .write(move |tx| sqlite::queue::complete(tx, &node, &done))
                    .await;
            }
            self.write_relaxed(move |tx| sqlite::queue::complete(tx, &node, &done)).await
        }
        async fn release_deliveries(&self, node: &str, ids: &[i64], now: i64) -> Result<i64> {
            let (node, ids) = (node.to_owned(), ids.to_vec());
            self.write_relaxed(move |tx| sqlite::queue::release(tx, &node, &ids, now)).await
        }
        async fn disable_failing_endpoints(&self, cutoff: i64) -> Result<i64> {
            self.write(move |tx| sqlite::queue::disable_failing(tx, cutoff)).await
        }
        async fn reserve_send_slot(&self, endpoint_id: &str, rate: i64, now: i64) -> Result<i64> {
            let endpoint_id = endpoint_id.to_owned();
            self.write_relaxed(move |tx| {
                sqlite::queue::reserve_send_slot(tx, &endpoint_id, rate, now)
            })
            .await
        }
        async fn release_leases(&self, node: &str, now: i64) -> Result<i64> {
            let node = node.to_owned();
            self.write_relaxed(move |tx| sqlite::queue::release_leases(tx, &node, now)).await
        }
    }
    postgres {
        async fn create_message(&self, account_id: i64, msg: NewMessage) -> Result<Message> {
            // Group-committed with the other messages arriving meanwhile (see ingest.rs).
            self.ingest(account_id, msg, Default::default()).await
        }
        async fn claim_due_except(
            &self, node: &str, now: i64, lease_until: i64, limit: i64, skip: &[String],
        ) -> Result<Vec<DeliveryJob>> {
            // One statement, one round trip: it locks, leases and returns the rows.
            self.single_relaxed(|client| async move {
                postgres::queue::claim_due(&client, node, now, lease_until, limit, skip).await
            })
            .await
        }
        async fn complete_deliveries(&self, node: &str, done: Vec<Completion>) -> Result<()> {
            let done = &done;
            if crate::opwh::batch_may_signal(done) {
                // It may queue operational events: one transaction records the batch and them.
                return postgres::write_tx!(self, |tx| {
                    postgres::opwh::complete_with_events(&tx, node, done).await
                });
            }
            self.single_relaxed(|client| async move {
                postgres::queue::complete(&client, node, done).await.map(|_| ())
            })
            .await
        }
        async fn release_deliveries(&self, node: &str, ids: &[i64], now: i64) -> Result<i64> {
            postgres::write_tx!(relaxed self, |tx| postgres::queue::release(&tx, node, ids, now).await)
        }
        async fn disable_failing_endpoints(&self, cutoff: i64) -> Result<i64> {
            postgres::write_tx!(self, |tx| postgres::queue::disable_failing(&tx, cutoff).await)
        }
        async fn reserve_send_slot(&self, endpoint_id: &str, rate: i64, now: i64) -> Result<i64> {
            postgres::write_tx!(relaxed self, |tx| {
                postgres::queue::reserve_send_slot(&tx, endpoint_id, rate, now).await
            })
        }
        async fn release_leases(&self, node: &str, now: i64) -> Result<i64> {
            postgres::write_tx!(relaxed self, |tx| postgres::queue::release_leases(&tx, node, now).await)
        }
    }

    read fn endpoint_stats(account_id: i64, id: &str) -> Result<EndpointStats> =
        |db| endpoints::stats(db, account_id, id);
    read fn list_messages(account_id: i64, filter: &ListFilter) -> Result<Vec<Message>> =
        |db| messages::list_messages(db, account_id, filter);
    read fn get_message(account_id: i64, id: &str) -> Result<Message> =
        |db| messages::message(db, account_id, id);
    read fn message_deliveries(account_id: i64, msg_id: &str) -> Result<Vec<DeliveryView>> =
        |db| messages::deliveries_of(db, account_id, msg_id);
    read fn list_attempts(account_id: i64, msg_id: Option<&str>, filter: &ListFilter)
        -> Result<Vec<Attempt>> = |db| messages::list_attempts(db, account_id, msg_id, filter);
    read fn get_attempt(account_id: i64, msg_id: &str, attempt_id: &str) -> Result<Attempt> =
        |db| messages::get_attempt(db, account_id, msg_id, attempt_id);
    write fn resend(account_id: i64, msg_id: &str, endpoint_id: &str) -> Result<()> =
        |db| messages::resend(db, account_id, msg_id, endpoint_id);
    write fn recover(account_id: i64, endpoint_id: &str, since: i64, until: i64) -> Result<i64> =
        |db| send_again(db, Again::Recover, account_id, endpoint_id, since, until);
    write fn replay_missing(account_id: i64, endpoint_id: &str, since: i64, until: i64)
        -> Result<i64> =
        |db| send_again(db, Again::ReplayMissing, account_id, endpoint_id, since, until);
    write fn idempotency_begin(key: &str, now: i64, expired_before: i64) -> Result<Idempotent> =
        |db| tasks::idempotency_begin(db, key, now, expired_before);
    // PostgreSQL may run the body again (a serialization failure), so it takes a copy.
    write fn idempotency_finish(key: &str, response: Option<(u16, Vec<u8>)>) -> Result<()> =
        |db| tasks::idempotency_finish(db, key, response.clone());
    write fn put_task(id: &str, account_id: i64, record: &str, now: i64) -> Result<()> =
        |db| tasks::put_task(db, id, account_id, record, now);
    read fn get_task(id: &str) -> Result<Option<(i64, String)>> = |db| tasks::get_task(db, id);
    read fn list_tasks(accounts: &[i64]) -> Result<Vec<String>> =
        |db| tasks::list_tasks(db, accounts);
    read fn next_due_except(skip: &[String]) -> Result<Option<i64>> =
        |db| messages::next_due(db, skip);
    read fn queue_depth() -> Result<(i64, Option<i64>)> = |db| messages::depth(db);
    relaxed fn defer_delivery(
        node: &str, job: &DeliveryJob, until: i64, refusal: Option<AttemptResult>, now: i64,
    ) -> Result<bool> = |db| pace::defer(db, node, job, until, refusal.as_ref(), now);
    relaxed fn hold_endpoint(endpoint_id: &str, until: i64, record: &PaceRecord) -> Result<u64> =
        |db| pace::hold(db, endpoint_id, until, record);
    relaxed fn save_pace(endpoint_id: &str, record: &PaceRecord) -> Result<()> =
        |db| pace::save(db, endpoint_id, record);
    read fn endpoint_pace(account_id: i64, id: &str) -> Result<Option<PaceRecord>> = |db| async {
        let ep = endpoints::get_app(db, account_id, id).await?;
        pace::get(db, &ep.id).await
    };
}

crate::both::on_both! {
    impl EndpointsOfKind;
    write fn create_of(
        kind: Kind, account_id: i64, input: EndpointInput, sealed_secret: String,
        headers: Map<String, Value>,
    ) -> Result<Endpoint> =
        |db| endpoints::create(db, kind, account_id, input, sealed_secret, headers);
    read fn list_of(kind: Kind, account_id: i64, limit: i64, iterator: Option<&str>)
        -> Result<Vec<Endpoint>> = |db| endpoints::list(db, kind, account_id, limit, iterator);
    read fn get_of(kind: Kind, account_id: i64, id: &str) -> Result<Endpoint> =
        |db| endpoints::get(db, kind, account_id, id);
    write fn update_of(kind: Kind, account_id: i64, id: &str, input: EndpointInput)
        -> Result<Endpoint> = |db| endpoints::update(db, kind, account_id, id, input);
    write fn delete_of(kind: Kind, account_id: i64, id: &str) -> Result<()> =
        |db| endpoints::delete(db, kind, account_id, id);
    write fn rotate_secret_of(
        kind: Kind, account_id: i64, id: &str, sealed_secret: String, old_expires_at: i64,
    ) -> Result<Endpoint> = |db| {
        endpoints::rotate_secret(db, kind, account_id, id, sealed_secret, old_expires_at)
    };
    write fn set_headers_of(kind: Kind, account_id: i64, id: &str, headers: Map<String, Value>)
        -> Result<()> = |db| endpoints::set_headers(db, kind, account_id, id, headers);
}
