//! Background tasks (recover, replay-missing): started here, run on this node, their progress
//! kept in the store so that any node answers `GET /api/v1/background-task/{id}` the same.

use serde_json::{json, Value};

use super::ms_time;
use crate::state::AppState;

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Re-send failed messages.
    Recover,
    /// Send messages never sent to the endpoint.
    ReplayMissing,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Recover => "endpoint.recover",
            Kind::ReplayMissing => "endpoint.replay",
        }
    }
}

fn record(id: &str, kind: Kind, status: &str, sent: i64) -> Value {
    json!({
        "id": id,
        "status": status,
        "task": kind.name(),
        "data": {"messagesSent": sent},
        "updatedAt": ms_time(chrono::Utc::now().timestamp_millis()),
    })
}

/// Starts a task over `[since, until)` for an endpoint; returns its first record.
pub async fn start(
    state: &AppState,
    account_id: i64,
    endpoint: &str,
    kind: Kind,
    since: i64,
    until: i64,
) -> crate::error::ApiResult<Value> {
    let id = format!("qtask_{}", uuid::Uuid::new_v4().simple());
    let first = record(&id, kind, "running", 0);
    let now = chrono::Utc::now().timestamp_millis();
    state
        .store
        .put_task(&id, account_id, &first.to_string(), now)
        .await?;
    let (state, endpoint) = (state.clone(), endpoint.to_owned());
    tokio::spawn(async move {
        let result = match kind {
            Kind::Recover => {
                state
                    .store
                    .recover(account_id, &endpoint, since, until)
                    .await
            }
            Kind::ReplayMissing => {
                state
                    .store
                    .replay_missing(account_id, &endpoint, since, until)
                    .await
            }
        };
        let done = match result {
            Ok(n) => record(&id, kind, "finished", n),
            Err(e) => {
                tracing::error!(error = %e, task = %id, "background task failed");
                record(&id, kind, "failed", 0)
            }
        };
        let now = chrono::Utc::now().timestamp_millis();
        if let Err(e) = state
            .store
            .put_task(&id, account_id, &done.to_string(), now)
            .await
        {
            tracing::error!(error = %e, task = %id, "could not record a task's end");
        }
    });
    Ok(first)
}

/// A task's record if it belongs to one of `accounts`.
pub async fn get(
    state: &AppState,
    id: &str,
    accounts: &[i64],
) -> crate::error::ApiResult<Option<Value>> {
    Ok(match state.store.get_task(id).await? {
        Some((account, rec)) if accounts.contains(&account) => serde_json::from_str(&rec).ok(),
        _ => None,
    })
}
