//! Background tasks (recover, replay-missing): started here, run on this node, their progress
//! kept in the store so that any node answers `GET /api/v1/background-task/{id}` the same.

use super::ms_time;
use crate::error::ApiError;
use crate::schema::svix::{BackgroundTaskData, BackgroundTaskOut};
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

fn record(id: &str, kind: Kind, status: &str, sent: i64) -> BackgroundTaskOut {
    BackgroundTaskOut {
        id: id.to_owned(),
        status: status.to_owned(),
        task: kind.name().to_owned(),
        data: BackgroundTaskData {
            messages_sent: sent,
        },
        updated_at: ms_time(chrono::Utc::now().timestamp_millis()),
    }
}

/// The record as stored (the answer's JSON).
fn stored(rec: &BackgroundTaskOut) -> Result<String, serde_json::Error> {
    serde_json::to_string(rec)
}

/// Starts a task over `[since, until)` for an endpoint; returns its first record.
pub async fn start(
    state: &AppState,
    account_id: i64,
    endpoint: &str,
    kind: Kind,
    since: i64,
    until: i64,
) -> crate::error::ApiResult<BackgroundTaskOut> {
    let id = format!("qtask_{}", uuid::Uuid::new_v4().simple());
    let first = record(&id, kind, "running", 0);
    let now = chrono::Utc::now().timestamp_millis();
    let text = stored(&first).map_err(|e| {
        tracing::error!(error = %e, "cannot serialize a task record");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The task could not be recorded.",
        )
    })?;
    state.store.put_task(&id, account_id, &text, now).await?;
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
        let saved = match stored(&done) {
            Ok(text) => state
                .store
                .put_task(&id, account_id, &text, now)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = saved {
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
) -> crate::error::ApiResult<Option<BackgroundTaskOut>> {
    Ok(match state.store.get_task(id).await? {
        Some((account, rec)) if accounts.contains(&account) => serde_json::from_str(&rec).ok(),
        _ => None,
    })
}
