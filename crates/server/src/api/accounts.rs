//! `/api_status/`, `/user`, `/users/{u}`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use datahooks_domain::model::User;

use crate::error::ApiResult;
use crate::extract::Caller;
use crate::routes::ApiRouter;
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api_status/",
        "Checks the API key (the SDK calls it at start-up)",
        api_status,
    )
    .route(
        "GET",
        "/user",
        "The authenticated user, with its organizations",
        me,
    )
    .route("GET", "/users/{user}", "A user or organization", user)
}

async fn api_status(_caller: Caller) -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn me(State(state): State<AppState>, Caller(me): Caller) -> ApiResult<Json<User>> {
    Ok(Json(state.store.user_view(&me.name, true).await?))
}

async fn user(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.store.user_view(&name, false).await?))
}
