//! Applications: enabling and disabling an account's webhooks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use datahooks_domain::inputs::{object, opt_str};
use datahooks_store::Account;

use super::{app_account, app_id, list, managed_account};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::ApiRouter;
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api/v1/app",
        "Accounts the caller manages that have webhooks enabled",
        list_apps,
    )
    .route(
        "POST",
        "/api/v1/app",
        "Enables webhooks for an account (uid = account name)",
        create,
    )
    .route(
        "GET",
        "/api/v1/app/{app}",
        "An account's webhook application",
        get,
    )
    .route(
        "DELETE",
        "/api/v1/app/{app}",
        "Disables webhooks for an account",
        delete,
    )
}

/// Svix's `ApplicationOut` for an account.
pub fn app_out(a: &Account) -> Value {
    json!({
        "id": app_id(a),
        "uid": a.name,
        "name": a.name,
        "throttleRate": null,
        "metadata": {},
        "createdAt": a.created_at,
        "updatedAt": a.created_at,
    })
}

async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
    _q: QueryMap,
) -> ApiResult<Json<Value>> {
    let apps: Vec<Value> = state
        .store
        .managed_accounts(caller.0.id)
        .await?
        .iter()
        .filter(|a| a.webhooks_enabled)
        .map(app_out)
        .collect();
    Ok(Json(list(apps, None, true)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let m = object(body)?;
    let name = opt_str(&m, "uid")?
        .or(opt_str(&m, "name")?)
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_field",
                "Give the account name as 'uid' (or 'name').",
            )
        })?;
    let account = managed_account(&state, &caller, &name).await?;
    if account.webhooks_enabled {
        if q.flag("get_if_exists") {
            return Ok((StatusCode::OK, Json(app_out(&account))));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("Webhooks are already enabled for {name}: the application already exists."),
        ));
    }
    let account = state.store.set_webhooks_enabled(account.id, true).await?;
    Ok((StatusCode::CREATED, Json(app_out(&account))))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app_out(&app_account(&state, &caller, &app).await?)))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<StatusCode> {
    let account = app_account(&state, &caller, &app).await?;
    state.store.set_webhooks_enabled(account.id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
