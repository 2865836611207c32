//! The charts' counting SQL: one text for both backends. Hours are cut as text
//! (`substr(timestamp, 1, 13)`, `2026-12-02T06`), which both dialects do alike.

use crate::charts::{
    group_durations, hour_ms, since_text, HourCount, HourDurations, MAX_DURATIONS,
};
use crate::sql::{from_cols, Arg, Cols, Db};
use crate::Result;

/// Attempts per hour since `since_ms`, oldest first: one endpoint's, or (`None`) all of the
/// account's.
pub(crate) async fn hourly(
    db: &impl Db,
    account_id: i64,
    endpoint_id: Option<&str>,
    since_ms: i64,
) -> Result<Vec<HourCount>> {
    let since = since_text(since_ms)?;
    let mut args: Vec<&dyn Arg> = vec![&account_id, &since];
    let endpoint = match &endpoint_id {
        Some(id) => {
            args.push(id);
            " AND endpoint_id = $3"
        }
        None => "",
    };
    let sql = format!(
        "SELECT substr(timestamp, 1, 13) AS h,
                SUM(CASE WHEN status = 0 THEN 1 ELSE 0 END) AS success,
                SUM(CASE WHEN status = 0 THEN 0 ELSE 1 END) AS fail
         FROM attempts WHERE account_id = $1 AND timestamp >= $2{endpoint}
         GROUP BY h ORDER BY h"
    );
    db.rows(&sql, &args, |r| {
        Ok(from_cols!(r => HourCount { hour_ms: hour_ms(&r.get::<String>("h")?)?, success, fail }))
    })
    .await
}

/// An endpoint's newest attempt durations (at most [`MAX_DURATIONS`]) per hour since
/// `since_ms`, oldest hour first.
pub(crate) async fn durations(
    db: &impl Db,
    account_id: i64,
    endpoint_id: &str,
    since_ms: i64,
) -> Result<Vec<HourDurations>> {
    let since = since_text(since_ms)?;
    let pairs = db
        .rows(
            "SELECT h, d FROM (
                 SELECT substr(timestamp, 1, 13) AS h, duration_ms AS d, seq FROM attempts
                 WHERE account_id = $1 AND endpoint_id = $2 AND timestamp >= $3
                 ORDER BY seq DESC LIMIT $4) AS newest
             ORDER BY h, d",
            &[&account_id, &endpoint_id, &since, &MAX_DURATIONS],
            |r| Ok((r.get::<String>("h")?, r.get::<i64>("d")?)),
        )
        .await?;
    group_durations(pairs)
}

crate::both::on_both! {
    impl crate::charts::ChartStore;
    read fn endpoint_hourly(account_id: i64, endpoint_id: &str, since_ms: i64)
        -> Result<Vec<HourCount>> = |db| hourly(db, account_id, Some(endpoint_id), since_ms);
    read fn endpoint_durations(account_id: i64, endpoint_id: &str, since_ms: i64)
        -> Result<Vec<HourDurations>> = |db| durations(db, account_id, endpoint_id, since_ms);
    read fn account_hourly(account_id: i64, since_ms: i64) -> Result<Vec<HourCount>> =
        |db| hourly(db, account_id, None, since_ms);
}
