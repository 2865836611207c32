//! Readiness, apart from liveness: `/api/v1/health` answers 204 while the process runs;
//! `/api/v1/health/ready` (also `/ready`) answers 200 only when this node can do its work:
//! the store answers, its schema is exactly this binary's, and, on a node that runs the
//! delivery worker, the worker is running. Otherwise 503 with the reason, so a load balancer
//! or Kubernetes stops sending traffic without restarting the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// How long a probe waits for the store: less than a typical probe timeout, and a store this
/// slow is not ready to serve either.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the delivery worker of this node runs: set by the task that runs it, cleared when
/// that task ends for any reason (including a panic, since the guard is dropped on unwind).
#[derive(Debug, Default)]
pub struct WorkerRunning(AtomicBool);

impl WorkerRunning {
    /// Marks the worker running until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> WorkerGuard {
        self.0.store(true, Ordering::SeqCst);
        WorkerGuard(self.clone())
    }

    /// Whether the worker runs now.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Clears [`WorkerRunning`] when dropped.
#[derive(Debug)]
pub struct WorkerGuard(Arc<WorkerRunning>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.0 .0.store(false, Ordering::SeqCst);
    }
}

fn not_ready(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
}

/// `GET /api/v1/health/ready`: 200 `{"status": "ready", …}`, or 503 `{"code", "detail"}`.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let schema = match tokio::time::timeout(STORE_TIMEOUT, state.store.schema_version()).await {
        Err(_) => {
            return Err(not_ready(
                "store_unreachable",
                "The store did not answer within 2 s.",
            ))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store cannot be reached");
            return Err(not_ready(
                "store_unreachable",
                "The store cannot be reached.",
            ));
        }
        Ok(Ok(v)) => v,
    };
    if let Some(problem) = schema.problem() {
        return Err(not_ready("schema_mismatch", problem));
    }
    let worker = match &state.hooks.worker {
        Some(w) if !w.get() => {
            return Err(not_ready(
                "worker_stopped",
                "The delivery worker of this node is not running.",
            ))
        }
        Some(_) => Some(true),
        None => None,
    };
    Ok(Json(json!({
        "status": "ready",
        "schema": schema.database,
        "worker": worker,
    })))
}
