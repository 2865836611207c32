//! [`AppStore`] for SQLite: the shared SQL from `crate::apps`.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::apps::{
    parse_metadata, AppSettings, AppStore, AttemptStats, ATTEMPT_STATS, GET_SETTINGS, PUT_SETTINGS,
};
use crate::charts::since_text;
use crate::Result;

#[async_trait]
impl AppStore for SqliteStore {
    async fn app_settings(&self, account_id: i64) -> Result<Option<AppSettings>> {
        let row = self
            .read(move |tx| {
                Ok(tx
                    .prepare_cached(GET_SETTINGS)?
                    .query_row(params![account_id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<i64>>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    })
                    .optional()?)
            })
            .await?;
        row.map(|(name, throttle_rate, metadata, updated_at)| {
            Ok(AppSettings {
                name,
                throttle_rate,
                metadata: parse_metadata(&metadata)?,
                updated_at: Some(updated_at),
            })
        })
        .transpose()
    }

    async fn set_app_settings(&self, account_id: i64, s: AppSettings) -> Result<AppSettings> {
        let now = datahooks_domain::time::format(chrono::Utc::now());
        let metadata = serde_json::Value::Object(s.metadata.clone()).to_string();
        let (name, rate, at) = (s.name.clone(), s.throttle_rate, now.clone());
        self.write(move |tx| {
            tx.execute(PUT_SETTINGS, params![account_id, name, rate, metadata, at])?;
            Ok(())
        })
        .await?;
        Ok(AppSettings {
            updated_at: Some(now),
            ..s
        })
    }

    async fn attempt_stats(
        &self,
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<AttemptStats> {
        let (id, since, until) = (
            endpoint_id.to_owned(),
            since_text(since_ms)?,
            since_text(until_ms)?,
        );
        self.read(move |tx| {
            Ok(tx.prepare_cached(ATTEMPT_STATS)?.query_row(
                params![account_id, id, since, until],
                |r| {
                    Ok(AttemptStats {
                        success: r.get(0)?,
                        fail: r.get(1)?,
                    })
                },
            )?)
        })
        .await
    }
}
