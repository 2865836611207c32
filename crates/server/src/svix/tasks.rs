//! Background tasks (recover, replay-missing): the task record and the job that runs it are
//! written in one transaction, and the job runs on whichever node claims it
//! (`datahooks_webhooks::jobs`), which writes the final record with its work. So any node
//! answers `GET /api/v1/background-task/{id}` the same, and a task survives a crash.

use datahooks_domain::jobs::task_record;
use datahooks_store::jobs::{NewJob, TaskArgs};

use crate::error::ApiError;
use crate::schema::svix::BackgroundTaskOut;
use crate::state::AppState;

/// What a task does: `Recover` or `ReplayMissing`.
pub use datahooks_domain::jobs::JobKind as Kind;

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
    let now = chrono::Utc::now().timestamp_millis();
    let first = task_record(&id, kind, "running", 0, now);
    let args = TaskArgs {
        task: id.clone(),
        account: account_id,
        endpoint: endpoint.to_owned(),
        since,
        until,
    };
    let args = serde_json::to_value(&args)
        .map_err(|e| crate::error::ApiError::from(datahooks_store::Error::Other(e.to_string())))?;
    state
        .store
        .start_task_job(
            &id,
            account_id,
            &first.to_string(),
            NewJob::once(kind, args, now),
            now,
        )
        .await?;
    serde_json::from_value(first).map_err(|e| internal(&e))
}

/// A task record that does not read back as its own shape: a bug, reported loudly.
fn internal(e: &serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "a background task record does not parse");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "The task record cannot be read.",
    )
}

/// A task's record if it belongs to one of `accounts`.
pub async fn get(
    state: &AppState,
    id: &str,
    accounts: &[i64],
) -> crate::error::ApiResult<Option<BackgroundTaskOut>> {
    match state.store.get_task(id).await? {
        Some((account, rec)) if accounts.contains(&account) => serde_json::from_str(&rec)
            .map(Some)
            .map_err(|e| internal(&e)),
        _ => Ok(None),
    }
}
