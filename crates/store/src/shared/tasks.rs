//! State the API nodes share, one text for both backends: idempotency keys (a request's
//! response, kept for its retries) and the records of background tasks (recover, replay).

use crate::sql::{Cols, Db};
use crate::webhooks::Idempotent;
use crate::{Error, Result};

/// How long a request may hold an idempotency key before another may take it over.
const IDEMPOTENCY_LOCK_MS: i64 = 30_000;

/// Claims `key` for a request at `now`, or tells what became of the request that holds it.
/// Keys created before `expired_before` are forgotten first.
pub(crate) async fn idempotency_begin(
    db: &impl Db,
    key: &str,
    now: i64,
    expired_before: i64,
) -> Result<Idempotent> {
    db.exec(
        "DELETE FROM idempotency WHERE created_ms < $1",
        &[&expired_before],
    )
    .await?;
    // A claim whose request died (status still 0 long after) is released.
    db.exec(
        "DELETE FROM idempotency WHERE key = $1 AND status = 0 AND created_ms < $2",
        &[&key, &(now - IDEMPOTENCY_LOCK_MS)],
    )
    .await?;
    // Two nodes may see the same new key at once: the insert decides which one runs (the
    // other waits for it here, then finds its claim).
    let claimed = db
        .exec(
            "INSERT INTO idempotency (key, status, body, created_ms) VALUES ($1, 0, $2, $3)
             ON CONFLICT (key) DO NOTHING",
            &[&key, &Vec::<u8>::new(), &now],
        )
        .await?;
    if claimed == 1 {
        return Ok(Idempotent::Run);
    }
    let found: Option<(i64, Vec<u8>)> = db
        .opt(
            "SELECT status, body FROM idempotency WHERE key = $1",
            &[&key],
            |r| Ok((r.get("status")?, r.get("body")?)),
        )
        .await?;
    Ok(match found {
        Some((0, _)) => Idempotent::InFlight,
        Some((status, body)) => {
            let status = u16::try_from(status).map_err(|_| {
                Error::Other(format!("an idempotency key's status is not one: {status}"))
            })?;
            Idempotent::Done(status, body)
        }
        // Released by its request between our insert and this read: ask again.
        None => Idempotent::InFlight,
    })
}

/// Keeps the response of the request that holds `key`, or (`None`: it failed) releases the
/// key for a retry.
pub(crate) async fn idempotency_finish(
    db: &impl Db,
    key: &str,
    response: Option<(u16, Vec<u8>)>,
) -> Result<()> {
    match response {
        Some((status, body)) => {
            db.exec(
                "UPDATE idempotency SET status = $2, body = $3 WHERE key = $1",
                &[&key, &i64::from(status), &body],
            )
            .await?;
        }
        None => {
            db.exec(
                "DELETE FROM idempotency WHERE key = $1 AND status = 0",
                &[&key],
            )
            .await?;
        }
    }
    Ok(())
}

/// Writes a task's record, and queues the operational event a finished task makes.
pub(crate) async fn put_task(
    db: &impl Db,
    id: &str,
    account_id: i64,
    record: &str,
    now: i64,
) -> Result<()> {
    db.exec(
        "INSERT INTO tasks (id, account_id, record, updated_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_ms = excluded.updated_ms",
        &[&id, &account_id, &record, &now],
    )
    .await?;
    if let Some(ev) = crate::opwh::task_event(record) {
        crate::shared::opwh::emit(db, account_id, &ev).await?;
    }
    Ok(())
}

/// A task's account and record.
pub(crate) async fn get_task(db: &impl Db, id: &str) -> Result<Option<(i64, String)>> {
    db.opt(
        "SELECT account_id, record FROM tasks WHERE id = $1",
        &[&id],
        |r| Ok((r.get("account_id")?, r.get("record")?)),
    )
    .await
}

/// The latest 100 task records of each account, newest first.
pub(crate) async fn list_tasks(db: &impl Db, accounts: &[i64]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in accounts {
        out.extend(
            db.rows(
                "SELECT record FROM tasks WHERE account_id = $1 ORDER BY updated_ms DESC LIMIT 100",
                &[a],
                |r| r.get("record"),
            )
            .await?,
        );
    }
    Ok(out)
}
