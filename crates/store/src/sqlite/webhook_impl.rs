//! [`WebhookStore`] for SQLite, and its endpoints of either kind ([`EndpointsOfKind`], which
//! `OpWebhookStore` is written on).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::db::Lite;
use super::{new_id, queue, SqliteStore};
use crate::opwh::Kind;
use crate::shared::messages::{self, send_again, Again};
use crate::shared::opwh::EndpointsOfKind;
use crate::shared::{endpoints, pace, tasks};
use crate::sql::block_now;
use crate::webhooks::{
    Attempt, AttemptResult, Completion, DeliveryJob, DeliveryView, Endpoint, EndpointInput,
    EndpointStats, Handoff, Idempotent, ListFilter, Message, NewMessage, PaceRecord, WebhookStore,
};
use crate::Result;

fn s(v: &str) -> String {
    v.to_owned()
}

#[async_trait]
impl WebhookStore for SqliteStore {
    fn wakeup(&self) -> Arc<Notify> {
        self.notify()
    }
    async fn endpoint_stats(&self, account_id: i64, id: &str) -> Result<EndpointStats> {
        let id = s(id);
        self.read(move |tx| block_now(endpoints::stats(&Lite(tx), account_id, &id))?)
            .await
    }
    async fn create_message(&self, account_id: i64, msg: NewMessage) -> Result<Message> {
        self.write(move |tx| {
            queue::insert_message(
                tx,
                account_id,
                &new_id("msg"),
                &msg.event_type,
                msg.event_id.as_deref(),
                &msg.channels,
                &msg.payload,
                msg.only_endpoint.as_deref(),
            )
        })
        .await
    }
    async fn list_messages(&self, account_id: i64, filter: &ListFilter) -> Result<Vec<Message>> {
        let filter = filter.clone();
        self.read(move |tx| block_now(messages::list_messages(&Lite(tx), account_id, &filter))?)
            .await
    }
    async fn get_message(&self, account_id: i64, id: &str) -> Result<Message> {
        let id = s(id);
        self.read(move |tx| block_now(messages::message(&Lite(tx), account_id, &id))?)
            .await
    }
    async fn message_deliveries(&self, account_id: i64, msg_id: &str) -> Result<Vec<DeliveryView>> {
        let msg_id = s(msg_id);
        self.read(move |tx| block_now(messages::deliveries_of(&Lite(tx), account_id, &msg_id))?)
            .await
    }
    async fn list_attempts(
        &self,
        account_id: i64,
        msg_id: Option<&str>,
        filter: &ListFilter,
    ) -> Result<Vec<Attempt>> {
        let (msg_id, filter) = (msg_id.map(s), filter.clone());
        self.read(move |tx| {
            let db = Lite(tx);
            block_now(messages::list_attempts(
                &db,
                account_id,
                msg_id.as_deref(),
                &filter,
            ))?
        })
        .await
    }
    async fn get_attempt(
        &self,
        account_id: i64,
        msg_id: &str,
        attempt_id: &str,
    ) -> Result<Attempt> {
        let (msg_id, attempt_id) = (s(msg_id), s(attempt_id));
        self.read(move |tx| {
            let db = Lite(tx);
            block_now(messages::get_attempt(&db, account_id, &msg_id, &attempt_id))?
        })
        .await
    }
    async fn resend(&self, account_id: i64, msg_id: &str, endpoint_id: &str) -> Result<()> {
        let (msg_id, endpoint_id) = (s(msg_id), s(endpoint_id));
        self.write(move |tx| {
            block_now(messages::resend(
                &Lite(tx),
                account_id,
                &msg_id,
                &endpoint_id,
            ))?
        })
        .await
    }
    async fn recover(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since: i64,
        until: i64,
    ) -> Result<i64> {
        let (ep, which) = (s(endpoint_id), Again::Recover);
        self.write(move |tx| {
            let db = Lite(tx);
            block_now(send_again(&db, which, account_id, &ep, since, until))?
        })
        .await
    }
    async fn replay_missing(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since: i64,
        until: i64,
    ) -> Result<i64> {
        let (ep, which) = (s(endpoint_id), Again::ReplayMissing);
        self.write(move |tx| {
            let db = Lite(tx);
            block_now(send_again(&db, which, account_id, &ep, since, until))?
        })
        .await
    }
    async fn claim_due_except(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<DeliveryJob>> {
        let (node, skip) = (s(node), skip.to_vec());
        self.write_relaxed(move |tx| queue::claim_due(tx, &node, now, lease_until, limit, &skip))
            .await
    }
    async fn complete_deliveries(&self, node: &str, done: Vec<Completion>) -> Result<()> {
        let node = s(node);
        if crate::opwh::batch_may_signal(&done) {
            // It may queue operational events: they are changes, and wait for the disk.
            return self
                .write(move |tx| queue::complete(tx, &node, &done))
                .await;
        }
        self.write_relaxed(move |tx| queue::complete(tx, &node, &done))
            .await
    }
    async fn release_deliveries(&self, node: &str, ids: &[i64], now: i64) -> Result<i64> {
        let (node, ids) = (s(node), ids.to_vec());
        self.write_relaxed(move |tx| queue::release(tx, &node, &ids, now))
            .await
    }
    fn attach_worker(&self, handoff: Option<Arc<Handoff>>) {
        self.set_handoff(handoff);
    }
    async fn disable_failing_endpoints(&self, cutoff: i64) -> Result<i64> {
        self.write(move |tx| queue::disable_failing(tx, cutoff))
            .await
    }
    async fn reserve_send_slot(&self, endpoint_id: &str, rate: i64, now: i64) -> Result<i64> {
        let endpoint_id = s(endpoint_id);
        self.write_relaxed(move |tx| queue::reserve_send_slot(tx, &endpoint_id, rate, now))
            .await
    }
    async fn idempotency_begin(
        &self,
        key: &str,
        now: i64,
        expired_before: i64,
    ) -> Result<Idempotent> {
        let key = s(key);
        self.write(move |tx| {
            block_now(tasks::idempotency_begin(
                &Lite(tx),
                &key,
                now,
                expired_before,
            ))?
        })
        .await
    }
    async fn idempotency_finish(&self, key: &str, response: Option<(u16, Vec<u8>)>) -> Result<()> {
        let key = s(key);
        self.write(move |tx| block_now(tasks::idempotency_finish(&Lite(tx), &key, response))?)
            .await
    }
    async fn put_task(&self, id: &str, account_id: i64, record: &str, now: i64) -> Result<()> {
        let (id, record) = (s(id), s(record));
        self.write(move |tx| block_now(tasks::put_task(&Lite(tx), &id, account_id, &record, now))?)
            .await
    }
    async fn get_task(&self, id: &str) -> Result<Option<(i64, String)>> {
        let id = s(id);
        self.read(move |tx| block_now(tasks::get_task(&Lite(tx), &id))?)
            .await
    }
    async fn list_tasks(&self, accounts: &[i64]) -> Result<Vec<String>> {
        let accounts = accounts.to_vec();
        self.read(move |tx| block_now(tasks::list_tasks(&Lite(tx), &accounts))?)
            .await
    }
    async fn release_leases(&self, node: &str, now: i64) -> Result<i64> {
        let node = s(node);
        self.write_relaxed(move |tx| queue::release_leases(tx, &node, now))
            .await
    }
    async fn next_due_except(&self, skip: &[String]) -> Result<Option<i64>> {
        let skip = skip.to_vec();
        self.read(move |tx| block_now(messages::next_due(&Lite(tx), &skip))?)
            .await
    }
    async fn queue_depth(&self) -> Result<(i64, Option<i64>)> {
        self.read(|tx| block_now(messages::depth(&Lite(tx)))?).await
    }
    async fn defer_delivery(
        &self,
        node: &str,
        job: &DeliveryJob,
        until: i64,
        refusal: Option<AttemptResult>,
        now: i64,
    ) -> Result<bool> {
        let (node, job) = (s(node), job.clone());
        self.write_relaxed(move |tx| {
            block_now(pace::defer(
                &Lite(tx),
                &node,
                &job,
                until,
                refusal.as_ref(),
                now,
            ))?
        })
        .await
    }
    async fn hold_endpoint(
        &self,
        endpoint_id: &str,
        until: i64,
        record: &PaceRecord,
    ) -> Result<u64> {
        let (endpoint_id, record) = (s(endpoint_id), record.clone());
        self.write_relaxed(move |tx| {
            block_now(pace::hold(&Lite(tx), &endpoint_id, until, &record))?
        })
        .await
    }
    async fn save_pace(&self, endpoint_id: &str, record: &PaceRecord) -> Result<()> {
        let (endpoint_id, record) = (s(endpoint_id), record.clone());
        self.write_relaxed(move |tx| block_now(pace::save(&Lite(tx), &endpoint_id, &record))?)
            .await
    }
    async fn endpoint_pace(&self, account_id: i64, id: &str) -> Result<Option<PaceRecord>> {
        let id = s(id);
        self.read(move |tx| {
            let ep = block_now(endpoints::get_app(&Lite(tx), account_id, &id))??;
            block_now(pace::get(&Lite(tx), &ep.id))?
        })
        .await
    }
}

#[async_trait]
impl EndpointsOfKind for SqliteStore {
    async fn create_of(
        &self,
        kind: Kind,
        account_id: i64,
        input: EndpointInput,
        sealed_secret: String,
        headers: Map<String, Value>,
    ) -> Result<Endpoint> {
        self.write(move |tx| {
            let (i, secret) = (&input, &sealed_secret);
            block_now(endpoints::create(
                &Lite(tx),
                kind,
                account_id,
                i,
                secret,
                &headers,
            ))?
        })
        .await
    }
    async fn list_of(
        &self,
        kind: Kind,
        account_id: i64,
        limit: i64,
        iterator: Option<&str>,
    ) -> Result<Vec<Endpoint>> {
        let iterator = iterator.map(s);
        self.read(move |tx| {
            let it = iterator.as_deref();
            block_now(endpoints::list(&Lite(tx), kind, account_id, limit, it))?
        })
        .await
    }
    async fn get_of(&self, kind: Kind, account_id: i64, id: &str) -> Result<Endpoint> {
        let id = s(id);
        self.read(move |tx| block_now(endpoints::get(&Lite(tx), kind, account_id, &id))?)
            .await
    }
    async fn update_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint> {
        let id = s(id);
        self.write(move |tx| {
            block_now(endpoints::update(&Lite(tx), kind, account_id, &id, &input))?
        })
        .await
    }
    async fn delete_of(&self, kind: Kind, account_id: i64, id: &str) -> Result<()> {
        let id = s(id);
        self.write(move |tx| block_now(endpoints::delete(&Lite(tx), kind, account_id, &id))?)
            .await
    }
    async fn rotate_secret_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        sealed_secret: String,
        old_expires_at: i64,
    ) -> Result<Endpoint> {
        let id = s(id);
        self.write(move |tx| {
            let (secret, until) = (&sealed_secret, old_expires_at);
            block_now(endpoints::rotate_secret(
                &Lite(tx),
                kind,
                account_id,
                &id,
                secret,
                until,
            ))?
        })
        .await
    }
    async fn set_headers_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        headers: Map<String, Value>,
    ) -> Result<()> {
        let id = s(id);
        self.write(move |tx| {
            block_now(endpoints::set_headers(
                &Lite(tx),
                kind,
                account_id,
                &id,
                &headers,
            ))?
        })
        .await
    }
}
