//! [`EventTypeStore`] and [`WindowStatsStore`] for SQLite: the shared SQL of
//! `crate::shared::event_types`.

use async_trait::async_trait;

use datahooks_domain::event_types::EventTypeInput;

use super::db::Lite;
use super::SqliteStore;
use crate::event_types::{CustomEventType, EventTypeStore};
use crate::shared::{endpoints, event_types};
use crate::sql::block_now;
use crate::webhooks::EndpointStats;
use crate::window_stats::WindowStatsStore;
use crate::Result;

#[async_trait]
impl EventTypeStore for SqliteStore {
    async fn event_type(&self, account_id: i64, name: &str) -> Result<Option<CustomEventType>> {
        let name = name.to_owned();
        self.read(move |tx| block_now(event_types::get(&Lite(tx), account_id, &name))?)
            .await
    }

    async fn list_event_types(
        &self,
        account_id: i64,
        include_archived: bool,
    ) -> Result<Vec<CustomEventType>> {
        self.read(move |tx| block_now(event_types::list(&Lite(tx), account_id, include_archived))?)
            .await
    }

    async fn create_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        let name = name.to_owned();
        self.write(move |tx| block_now(event_types::create(&Lite(tx), account_id, &name, &input))?)
            .await
    }

    async fn put_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        let name = name.to_owned();
        self.write(move |tx| block_now(event_types::put(&Lite(tx), account_id, &name, &input))?)
            .await
    }

    async fn delete_event_type(&self, account_id: i64, name: &str, expunge: bool) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| block_now(event_types::delete(&Lite(tx), account_id, &name, expunge))?)
            .await
    }
}

#[async_trait]
impl WindowStatsStore for SqliteStore {
    async fn endpoint_stats_between(
        &self,
        account_id: i64,
        endpoint: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<EndpointStats> {
        let endpoint = endpoint.to_owned();
        self.read(move |tx| {
            let ep = block_now(endpoints::get_app(&Lite(tx), account_id, &endpoint))??;
            block_now(event_types::stats_between(
                &Lite(tx),
                &ep.id,
                since_ms,
                until_ms,
            ))?
        })
        .await
    }
}
