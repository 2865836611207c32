//! [`WebhookStore`] for PostgreSQL, and its endpoints of either kind ([`EndpointsOfKind`],
//! which `OpWebhookStore` is written on).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::db::Pg;
use super::{queue, read_tx, write_tx, PgStore};
use crate::opwh::Kind;
use crate::shared::messages::{self, send_again, Again};
use crate::shared::opwh::EndpointsOfKind;
use crate::shared::{endpoints, pace, tasks};
use crate::webhooks::{
    Attempt, AttemptResult, Completion, DeliveryJob, DeliveryView, Endpoint, EndpointInput,
    EndpointStats, Handoff, Idempotent, ListFilter, Message, NewMessage, PaceRecord, WebhookStore,
};
use crate::Result;

#[async_trait]
impl WebhookStore for PgStore {
    fn wakeup(&self) -> Arc<Notify> {
        self.notify()
    }
    async fn endpoint_stats(&self, account_id: i64, id: &str) -> Result<EndpointStats> {
        read_tx!(self, |tx| endpoints::stats(&Pg(&tx), account_id, id).await)
    }
    async fn create_message(&self, account_id: i64, msg: NewMessage) -> Result<Message> {
        // Group-committed with the other messages arriving meanwhile (see ingest.rs).
        self.ingest(account_id, msg, Default::default()).await
    }
    async fn list_messages(&self, account_id: i64, filter: &ListFilter) -> Result<Vec<Message>> {
        read_tx!(self, |tx| {
            let db = Pg(&tx);
            messages::list_messages(&db, account_id, filter).await
        })
    }
    async fn get_message(&self, account_id: i64, id: &str) -> Result<Message> {
        read_tx!(self, |tx| messages::message(&Pg(&tx), account_id, id).await)
    }
    async fn message_deliveries(&self, account_id: i64, msg_id: &str) -> Result<Vec<DeliveryView>> {
        read_tx!(self, |tx| {
            let db = Pg(&tx);
            messages::deliveries_of(&db, account_id, msg_id).await
        })
    }
    async fn list_attempts(
        &self,
        account_id: i64,
        msg_id: Option<&str>,
        filter: &ListFilter,
    ) -> Result<Vec<Attempt>> {
        read_tx!(self, |tx| {
            let db = Pg(&tx);
            messages::list_attempts(&db, account_id, msg_id, filter).await
        })
    }
    async fn get_attempt(
        &self,
        account_id: i64,
        msg_id: &str,
        attempt_id: &str,
    ) -> Result<Attempt> {
        read_tx!(self, |tx| {
            let db = Pg(&tx);
            messages::get_attempt(&db, account_id, msg_id, attempt_id).await
        })
    }
    async fn resend(&self, account_id: i64, msg_id: &str, endpoint_id: &str) -> Result<()> {
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            messages::resend(&db, account_id, msg_id, endpoint_id).await
        })
    }
    async fn recover(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since: i64,
        until: i64,
    ) -> Result<i64> {
        write_tx!(self, |tx| {
            let (db, which) = (Pg(&tx), Again::Recover);
            send_again(&db, which, account_id, endpoint_id, since, until).await
        })
    }
    async fn replay_missing(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since: i64,
        until: i64,
    ) -> Result<i64> {
        write_tx!(self, |tx| {
            let (db, which) = (Pg(&tx), Again::ReplayMissing);
            send_again(&db, which, account_id, endpoint_id, since, until).await
        })
    }
    async fn claim_due_except(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        skip: &[String],
    ) -> Result<Vec<DeliveryJob>> {
        // One statement, one round trip: it locks, leases and returns the rows.
        self.single(|client| async move {
            queue::claim_due(&client, node, now, lease_until, limit, skip).await
        })
        .await
    }
    async fn complete_deliveries(&self, node: &str, done: Vec<Completion>) -> Result<()> {
        let done = &done;
        if crate::opwh::batch_may_signal(done) {
            // It may queue operational events: one transaction records the batch and them.
            return write_tx!(self, |tx| super::opwh::complete_with_events(
                &tx, node, done
            )
            .await);
        }
        self.single(|client| async move { queue::complete(&client, node, done).await.map(|_| ()) })
            .await
    }
    async fn release_deliveries(&self, node: &str, ids: &[i64], now: i64) -> Result<i64> {
        write_tx!(self, |tx| queue::release(&tx, node, ids, now).await)
    }
    fn attach_worker(&self, handoff: Option<Arc<Handoff>>) {
        self.set_handoff(handoff);
    }
    async fn disable_failing_endpoints(&self, cutoff: i64) -> Result<i64> {
        write_tx!(self, |tx| queue::disable_failing(&tx, cutoff).await)
    }
    async fn reserve_send_slot(&self, endpoint_id: &str, rate: i64, now: i64) -> Result<i64> {
        write_tx!(self, |tx| queue::reserve_send_slot(
            &tx,
            endpoint_id,
            rate,
            now
        )
        .await)
    }
    async fn idempotency_begin(
        &self,
        key: &str,
        now: i64,
        expired_before: i64,
    ) -> Result<Idempotent> {
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            tasks::idempotency_begin(&db, key, now, expired_before).await
        })
    }
    async fn idempotency_finish(&self, key: &str, response: Option<(u16, Vec<u8>)>) -> Result<()> {
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            tasks::idempotency_finish(&db, key, response.clone()).await
        })
    }
    async fn put_task(&self, id: &str, account_id: i64, record: &str, now: i64) -> Result<()> {
        write_tx!(self, |tx| {
            let db = Pg(&tx);
            tasks::put_task(&db, id, account_id, record, now).await
        })
    }
    async fn get_task(&self, id: &str) -> Result<Option<(i64, String)>> {
        read_tx!(self, |tx| tasks::get_task(&Pg(&tx), id).await)
    }
    async fn list_tasks(&self, accounts: &[i64]) -> Result<Vec<String>> {
        read_tx!(self, |tx| tasks::list_tasks(&Pg(&tx), accounts).await)
    }
    async fn release_leases(&self, node: &str, now: i64) -> Result<i64> {
        write_tx!(self, |tx| queue::release_leases(&tx, node, now).await)
    }
    async fn next_due_except(&self, skip: &[String]) -> Result<Option<i64>> {
        read_tx!(self, |tx| messages::next_due(&Pg(&tx), skip).await)
    }
    async fn queue_depth(&self) -> Result<(i64, Option<i64>)> {
        read_tx!(self, |tx| messages::depth(&Pg(&tx)).await)
    }
    async fn defer_delivery(
        &self,
        node: &str,
        job: &DeliveryJob,
        until: i64,
        refusal: Option<AttemptResult>,
        now: i64,
    ) -> Result<bool> {
        write_tx!(self, |tx| pace::defer(
            &Pg(&tx),
            node,
            job,
            until,
            refusal.as_ref(),
            now
        )
        .await)
    }
    async fn hold_endpoint(
        &self,
        endpoint_id: &str,
        until: i64,
        record: &PaceRecord,
    ) -> Result<u64> {
        write_tx!(self, |tx| pace::hold(&Pg(&tx), endpoint_id, until, record)
            .await)
    }
    async fn save_pace(&self, endpoint_id: &str, record: &PaceRecord) -> Result<()> {
        write_tx!(self, |tx| pace::save(&Pg(&tx), endpoint_id, record).await)
    }
    async fn endpoint_pace(&self, account_id: i64, id: &str) -> Result<Option<PaceRecord>> {
        read_tx!(self, |tx| async {
            let ep = endpoints::get_app(&Pg(&tx), account_id, id).await?;
            pace::get(&Pg(&tx), &ep.id).await
        }
        .await)
    }
}

#[async_trait]
impl EndpointsOfKind for PgStore {
    async fn create_of(
        &self,
        kind: Kind,
        account_id: i64,
        input: EndpointInput,
        sealed_secret: String,
        headers: Map<String, Value>,
    ) -> Result<Endpoint> {
        let (i, secret, headers) = (&input, &sealed_secret, &headers);
        write_tx!(self, |tx| endpoints::create(
            &Pg(&tx),
            kind,
            account_id,
            i,
            secret,
            headers
        )
        .await)
    }
    async fn list_of(
        &self,
        kind: Kind,
        account_id: i64,
        limit: i64,
        iterator: Option<&str>,
    ) -> Result<Vec<Endpoint>> {
        read_tx!(self, |tx| endpoints::list(
            &Pg(&tx),
            kind,
            account_id,
            limit,
            iterator
        )
        .await)
    }
    async fn get_of(&self, kind: Kind, account_id: i64, id: &str) -> Result<Endpoint> {
        read_tx!(self, |tx| endpoints::get(&Pg(&tx), kind, account_id, id)
            .await)
    }
    async fn update_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint> {
        write_tx!(self, |tx| endpoints::update(
            &Pg(&tx),
            kind,
            account_id,
            id,
            &input
        )
        .await)
    }
    async fn delete_of(&self, kind: Kind, account_id: i64, id: &str) -> Result<()> {
        write_tx!(self, |tx| endpoints::delete(&Pg(&tx), kind, account_id, id)
            .await)
    }
    async fn rotate_secret_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        sealed_secret: String,
        old_expires_at: i64,
    ) -> Result<Endpoint> {
        let (secret, until) = (&sealed_secret, old_expires_at);
        write_tx!(self, |tx| endpoints::rotate_secret(
            &Pg(&tx),
            kind,
            account_id,
            id,
            secret,
            until
        )
        .await)
    }
    async fn set_headers_of(
        &self,
        kind: Kind,
        account_id: i64,
        id: &str,
        headers: Map<String, Value>,
    ) -> Result<()> {
        let headers = &headers;
        write_tx!(self, |tx| endpoints::set_headers(
            &Pg(&tx),
            kind,
            account_id,
            id,
            headers
        )
        .await)
    }
}
