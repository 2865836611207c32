//! [`AppStore`] for PostgreSQL: the shared SQL from `crate::apps`.

use async_trait::async_trait;

use super::{exec, one, read_tx, rows, write_tx, PgStore};
use crate::apps::{
    parse_metadata, AppSettings, AppStore, AttemptStats, ATTEMPT_STATS, GET_SETTINGS, PUT_SETTINGS,
};
use crate::charts::since_text;
use crate::Result;

#[async_trait]
impl AppStore for PgStore {
    async fn app_settings(&self, account_id: i64) -> Result<Option<AppSettings>> {
        let found = read_tx!(self, |tx| rows(&tx, GET_SETTINGS, &[&account_id]).await)?;
        found
            .first()
            .map(|r| {
                Ok(AppSettings {
                    name: r.try_get(0)?,
                    throttle_rate: r.try_get(1)?,
                    metadata: parse_metadata(r.try_get(2)?)?,
                    updated_at: Some(r.try_get(3)?),
                })
            })
            .transpose()
    }

    async fn set_app_settings(&self, account_id: i64, s: AppSettings) -> Result<AppSettings> {
        let now = datahooks_domain::time::format(chrono::Utc::now());
        let metadata = serde_json::Value::Object(s.metadata.clone()).to_string();
        write_tx!(self, |tx| exec(
            &tx,
            PUT_SETTINGS,
            &[&account_id, &s.name, &s.throttle_rate, &metadata, &now]
        )
        .await)?;
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
        let (since, until) = (since_text(since_ms)?, since_text(until_ms)?);
        let r = read_tx!(self, |tx| one(
            &tx,
            ATTEMPT_STATS,
            &[&account_id, &endpoint_id, &since, &until]
        )
        .await)?;
        Ok(AttemptStats {
            success: r.try_get(0)?,
            fail: r.try_get(1)?,
        })
    }
}
