//! Application settings and windowed attempt counts (see [`crate::apps`]): one text for both
//! backends.

use crate::apps::{parse_metadata, AppSettings, AttemptStats};
use crate::charts::since_text;
use crate::sql::{from_cols, Cols, Db};
use crate::Result;

/// The settings stored for an account's application, if any were ever set.
pub(crate) async fn settings(db: &impl Db, account_id: i64) -> Result<Option<AppSettings>> {
    db.opt(
        "SELECT name, throttle_rate, metadata, updated_at FROM app_settings WHERE account_id = $1",
        &[&account_id],
        |r| {
            Ok(from_cols!(r => AppSettings {
                name, throttle_rate,
                metadata: parse_metadata(&r.get::<String>("metadata")?)?,
                updated_at: Some(r.get("updated_at")?),
            }))
        },
    )
    .await
}

/// Stores (replaces) an account's application settings; returns them with `updated_at` now.
pub(crate) async fn set_settings(
    db: &impl Db,
    account_id: i64,
    s: &AppSettings,
) -> Result<AppSettings> {
    let now = datahooks_domain::time::format(chrono::Utc::now());
    let metadata = serde_json::Value::Object(s.metadata.clone()).to_string();
    db.exec(
        "INSERT INTO app_settings (account_id, name, throttle_rate, metadata, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id) DO UPDATE SET name = excluded.name,
           throttle_rate = excluded.throttle_rate, metadata = excluded.metadata,
           updated_at = excluded.updated_at",
        &[&account_id, &s.name, &s.throttle_rate, &metadata, &now],
    )
    .await?;
    Ok(AppSettings {
        updated_at: Some(now),
        ..s.clone()
    })
}

/// Attempts (status 0 = success, anything else failed, as the charts count) of an endpoint
/// with `since <= timestamp < until`. Timestamps are stored in one fixed RFC 3339 form, so
/// text order is time order.
pub(crate) async fn attempt_stats(
    db: &impl Db,
    account_id: i64,
    endpoint_id: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<AttemptStats> {
    let (since, until) = (since_text(since_ms)?, since_text(until_ms)?);
    db.one(
        "SELECT COALESCE(SUM(CASE WHEN status = 0 THEN 1 ELSE 0 END), 0) AS success,
                COALESCE(SUM(CASE WHEN status = 0 THEN 0 ELSE 1 END), 0) AS fail
           FROM attempts
          WHERE account_id = $1 AND endpoint_id = $2 AND timestamp >= $3 AND timestamp < $4",
        &[&account_id, &endpoint_id, &since, &until],
        |r| Ok(from_cols!(r => AttemptStats { success, fail })),
    )
    .await
}

crate::both::on_both! {
    impl crate::apps::AppStore;
    read fn app_settings(account_id: i64) -> Result<Option<AppSettings>> =
        |db| settings(db, account_id);
    write fn set_app_settings(account_id: i64, s: AppSettings) -> Result<AppSettings> =
        |db| set_settings(db, account_id, s);
    read fn attempt_stats(
        account_id: i64,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<AttemptStats> = |db| attempt_stats(db, account_id, endpoint_id, since_ms, until_ms);
}
