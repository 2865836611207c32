//! [`EventTypeStore`] and [`WindowStatsStore`] for PostgreSQL: the shared SQL from
//! `crate::event_types` and `crate::window_stats`.

use async_trait::async_trait;
use tokio_postgres::Row;

use datahooks_domain::event_types::EventTypeInput;

use super::db::Pg;
use super::{exec, opt, read_tx, rows, write_tx, PgStore, Tx};
use crate::event_types::{
    from_row, json_fields, CustomEventType, EventTypeStore, ARCHIVE, EXPUNGE, GET, INSERT, LIST,
    UPSERT,
};
use crate::shared::endpoints;
use crate::webhooks::EndpointStats;
use crate::window_stats::{fold, WindowStatsStore, STATS_BETWEEN};
use crate::{Error, Result};

fn to_type(r: &Row) -> Result<CustomEventType> {
    from_row(
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
    )
}

/// Writes a type with `sql` (insert or upsert); returns how many rows changed.
async fn write(
    tx: &Tx<'_>,
    sql: &str,
    account_id: i64,
    name: &str,
    input: &EventTypeInput,
    now: &str,
) -> Result<u64> {
    let (schemas, flags) = json_fields(input);
    exec(
        tx,
        sql,
        &[
            &account_id,
            &name,
            &input.description,
            &input.archived,
            &input.deprecated,
            &schemas,
            &input.group_name,
            &flags,
            &now,
        ],
    )
    .await
}

async fn get(tx: &Tx<'_>, account_id: i64, name: &str) -> Result<CustomEventType> {
    let row = opt(tx, GET, &[&account_id, &name])
        .await?
        .ok_or_else(Error::not_found)?;
    to_type(&row)
}

#[async_trait]
impl EventTypeStore for PgStore {
    async fn event_type(&self, account_id: i64, name: &str) -> Result<Option<CustomEventType>> {
        let found = read_tx!(self, |tx| opt(&tx, GET, &[&account_id, &name]).await)?;
        found.as_ref().map(to_type).transpose()
    }

    async fn list_event_types(
        &self,
        account_id: i64,
        include_archived: bool,
    ) -> Result<Vec<CustomEventType>> {
        let found = read_tx!(self, |tx| rows(
            &tx,
            LIST,
            &[&account_id, &include_archived]
        )
        .await)?;
        found.iter().map(to_type).collect()
    }

    async fn create_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        let now = datahooks_domain::time::format(chrono::Utc::now());
        write_tx!(self, |tx| async {
            if write(&tx, INSERT, account_id, name, &input, &now).await? == 0 {
                return Err(Error::exists(format!(
                    "Event type {name:?} already exists."
                )));
            }
            get(&tx, account_id, name).await
        }
        .await)
    }

    async fn put_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        let now = datahooks_domain::time::format(chrono::Utc::now());
        write_tx!(self, |tx| async {
            write(&tx, UPSERT, account_id, name, &input, &now).await?;
            get(&tx, account_id, name).await
        }
        .await)
    }

    async fn delete_event_type(&self, account_id: i64, name: &str, expunge: bool) -> Result<()> {
        let now = datahooks_domain::time::format(chrono::Utc::now());
        write_tx!(self, |tx| async {
            let n = if expunge {
                exec(&tx, EXPUNGE, &[&account_id, &name]).await?
            } else {
                exec(&tx, ARCHIVE, &[&true, &now, &account_id, &name]).await?
            };
            if n == 0 {
                return Err(Error::not_found());
            }
            Ok(())
        }
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
        let found = read_tx!(self, |tx| async {
            let ep = endpoints::get_app(&Pg(&tx), account_id, endpoint).await?;
            rows(&tx, STATS_BETWEEN, &[&ep.id, &since_ms, &until_ms]).await
        }
        .await)?;
        fold(
            found
                .iter()
                .map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, i64>(1)?)))
                .collect::<Result<Vec<_>>>()?,
        )
    }
}
