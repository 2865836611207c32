//! [`EventTypeStore`] and [`WindowStatsStore`] for SQLite: the shared SQL from
//! `crate::event_types` and `crate::window_stats`.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

use datahooks_domain::event_types::EventTypeInput;

use super::db::Lite;
use super::SqliteStore;
use crate::event_types::{
    from_row, json_fields, CustomEventType, EventTypeStore, ARCHIVE, EXPUNGE, GET, INSERT, LIST,
    UPSERT,
};
use crate::shared::endpoints;
use crate::sql::block_now;
use crate::webhooks::EndpointStats;
use crate::window_stats::{fold, WindowStatsStore, STATS_BETWEEN};
use crate::{Error, Result};

type Cols = (
    String,
    String,
    bool,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);

fn cols(r: &Row<'_>) -> rusqlite::Result<Cols> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn to_type(c: Cols) -> Result<CustomEventType> {
    from_row(c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7, c.8)
}

fn get(tx: &rusqlite::Transaction<'_>, account_id: i64, name: &str) -> Result<Option<Cols>> {
    Ok(tx
        .prepare_cached(GET)?
        .query_row(params![account_id, name], cols)
        .optional()?)
}

/// Writes a type with `sql` (insert or upsert); returns how many rows changed.
fn write(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    account_id: i64,
    name: &str,
    input: &EventTypeInput,
    now: &str,
) -> Result<usize> {
    let (schemas, flags) = json_fields(input);
    Ok(tx.execute(
        sql,
        params![
            account_id,
            name,
            input.description,
            input.archived,
            input.deprecated,
            schemas,
            input.group_name,
            flags,
            now
        ],
    )?)
}

#[async_trait]
impl EventTypeStore for SqliteStore {
    async fn event_type(&self, account_id: i64, name: &str) -> Result<Option<CustomEventType>> {
        let name = name.to_owned();
        self.read(move |tx| get(tx, account_id, &name))
            .await?
            .map(to_type)
            .transpose()
    }

    async fn list_event_types(
        &self,
        account_id: i64,
        include_archived: bool,
    ) -> Result<Vec<CustomEventType>> {
        let found = self
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(LIST)?;
                let rows = stmt
                    .query_map(params![account_id, include_archived], cols)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        found.into_iter().map(to_type).collect()
    }

    async fn create_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        let name = name.to_owned();
        let now = datahooks_domain::time::format(chrono::Utc::now());
        let c = self
            .write(move |tx| {
                if write(tx, INSERT, account_id, &name, &input, &now)? == 0 {
                    return Err(Error::exists(format!(
                        "Event type {name:?} already exists."
                    )));
                }
                get(tx, account_id, &name)?.ok_or_else(Error::not_found)
            })
            .await?;
        to_type(c)
    }

    async fn put_event_type(
        &self,
        account_id: i64,
        name: &str,
        input: EventTypeInput,
    ) -> Result<CustomEventType> {
        let name = name.to_owned();
        let now = datahooks_domain::time::format(chrono::Utc::now());
        let c = self
            .write(move |tx| {
                write(tx, UPSERT, account_id, &name, &input, &now)?;
                get(tx, account_id, &name)?.ok_or_else(Error::not_found)
            })
            .await?;
        to_type(c)
    }

    async fn delete_event_type(&self, account_id: i64, name: &str, expunge: bool) -> Result<()> {
        let name = name.to_owned();
        let now = datahooks_domain::time::format(chrono::Utc::now());
        self.write(move |tx| {
            let n = if expunge {
                tx.execute(EXPUNGE, params![account_id, name])?
            } else {
                tx.execute(ARCHIVE, params![true, now, account_id, name])?
            };
            if n == 0 {
                return Err(Error::not_found());
            }
            Ok(())
        })
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
            let mut stmt = tx.prepare_cached(STATS_BETWEEN)?;
            let rows = stmt
                .query_map(params![ep.id, since_ms, until_ms], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            fold(rows)
        })
        .await
    }
}
