//! [`EventTypeStore`] and [`WindowStatsStore`] for PostgreSQL: the shared SQL of
//! `crate::shared::event_types`.

use async_trait::async_trait;

use datahooks_domain::event_types::EventTypeInput;

use super::db::Pg;
use super::{read_one, read_tx, write_tx, PgStore};
use crate::event_types::{CustomEventType, EventTypeStore};
use crate::shared::{endpoints, event_types};
use crate::webhooks::EndpointStats;
use crate::window_stats::WindowStatsStore;
use crate::Result;

#[async_trait]
impl EventTypeStore for PgStore {
    async fn event_type(&self, account_id: i64, name: &str) -> Result<Option<CustomEventType>> {
        read_tx!(self, |tx| event_types::get(&Pg(&tx), account_id, name)
            .await)
    }

    async fn list_event_types(
        &self,
        account_id: i64,
        include_archived: bool,
    ) -> Result<Vec<CustomEventType>> {
        // One statement, on the message path: no transaction around it.
        read_one!(self, |c| event_types::list(
            &Pg(c),
            account_id,
            include_archived
        )
        .await)
    }

    async fn create_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        write_tx!(self, |tx| event_types::create(
            &Pg(&tx),
            account_id,
            name,
            &input
        )
        .await)
    }

    async fn put_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        write_tx!(self, |tx| event_types::put(
            &Pg(&tx),
            account_id,
            name,
            &input
        )
        .await)
    }

    async fn delete_event_type(&self, account_id: i64, name: &str, expunge: bool) -> Result<()> {
        write_tx!(self, |tx| event_types::delete(
            &Pg(&tx),
            account_id,
            name,
            expunge
        )
        .await)
    }
}

#[async_trait]
impl WindowStatsStore for PgStore {
    async fn endpoint_stats_between(
        &self,
        account_id: i64,
        endpoint: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<EndpointStats> {
        read_tx!(self, |tx| async {
            let ep = endpoints::get_app(&Pg(&tx), account_id, endpoint).await?;
            event_types::stats_between(&Pg(&tx), &ep.id, since_ms, until_ms).await
        }
        .await)
    }
}
