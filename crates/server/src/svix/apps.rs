//! Applications: enabling and disabling an account's webhooks, and the application's settings
//! (display `name`, `throttleRate`, `metadata`; the uid is always the account name).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use datahooks_domain::inputs::{object, opt_str};
use datahooks_store::{Account, AppSettings};
use datahooks_webhooks::application as rules;

use super::{app_account, managed_account};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::{ApiRouter, SVIX_LIST};
use crate::schema::svix::{
    ApplicationIn, ApplicationOut, ListResponse, ListResponseApplicationOut,
};
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api/v1/app",
        "Accounts the caller manages that have webhooks enabled",
        list_apps,
    )
    .query(SVIX_LIST)
    .returns::<ListResponseApplicationOut>(200)
    .route(
        "POST",
        "/api/v1/app",
        "Enables webhooks for an account (uid = account name)",
        create,
    )
    .body::<ApplicationIn>()
    .returns::<ApplicationOut>(201)
    .returns::<ApplicationOut>(200)
    .route(
        "GET",
        "/api/v1/app/{app}",
        "An account's webhook application",
        get,
    )
    .returns::<ApplicationOut>(200)
    .route(
        "PUT",
        "/api/v1/app/{app}",
        "Sets an application's settings, enabling webhooks if needed",
        put,
    )
    .body::<ApplicationIn>()
    .returns::<ApplicationOut>(200)
    .returns::<ApplicationOut>(201)
    .route(
        "PATCH",
        "/api/v1/app/{app}",
        "Changes some of an application's settings",
        patch,
    )
    .body::<ApplicationIn>()
    .returns::<ApplicationOut>(200)
    .route(
        "DELETE",
        "/api/v1/app/{app}",
        "Disables webhooks for an account",
        delete,
    )
    .no_content()
}

/// Svix's `ApplicationOut` for an account and its settings.
pub fn app_out(a: &Account, s: &AppSettings) -> ApplicationOut {
    ApplicationOut::new(a, s)
}

/// The settings of an account's application (defaults when never set).
async fn settings(state: &AppState, a: &Account) -> ApiResult<AppSettings> {
    Ok(state
        .store
        .app_settings(a.id)
        .await?
        .unwrap_or_else(|| AppSettings::default_for(&a.name)))
}

/// An account's `ApplicationOut`, reading its settings.
async fn out(state: &AppState, a: &Account) -> ApiResult<ApplicationOut> {
    Ok(app_out(a, &settings(state, a).await?))
}

async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
    _q: QueryMap,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let mut apps = Vec::new();
    for a in state.store.managed_accounts(caller.0.id).await? {
        if a.webhooks_enabled {
            apps.push(out(&state, &a).await?);
        }
    }
    Ok(Json(ListResponse::new(apps, None, true)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let m = object(body)?;
    // The uid names the account; a body with only `name` (older clients) names it that way.
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
            return Ok((StatusCode::OK, Json(out(&state, &account).await?)));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("Webhooks are already enabled for {name}: the application already exists."),
        ));
    }
    // Checked before anything is written, so a bad body changes nothing.
    let s = rules::apply(&m, &AppSettings::default_for(&name), &name, true)?;
    let s = state.store.set_app_settings(account.id, s).await?;
    let account = state.store.set_webhooks_enabled(account.id, true).await?;
    Ok((StatusCode::CREATED, Json(app_out(&account, &s))))
}

/// A body's `uid`, when given, must be the application's: it is the account name.
fn check_uid(m: &serde_json::Map<String, Value>, a: &Account) -> ApiResult<()> {
    match opt_str(m, "uid")? {
        Some(uid) if uid != a.name => Err(ApiError::validation(
            &["body", "uid"],
            "validation",
            format!(
                "The uid of this application is the account name {:?} and cannot change.",
                a.name
            ),
        )),
        _ => Ok(()),
    }
}

async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let account = managed_account(&state, &caller, &app).await?;
    let m = object(body)?;
    check_uid(&m, &account)?;
    let current = settings(&state, &account).await?;
    let s = rules::apply(&m, &current, &account.name, true)?;
    let s = state.store.set_app_settings(account.id, s).await?;
    if account.webhooks_enabled {
        return Ok((StatusCode::OK, Json(app_out(&account, &s))));
    }
    let account = state.store.set_webhooks_enabled(account.id, true).await?;
    Ok((StatusCode::CREATED, Json(app_out(&account, &s))))
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<ApplicationOut>> {
    let account = app_account(&state, &caller, &app).await?;
    let m = object(body)?;
    check_uid(&m, &account)?;
    let current = settings(&state, &account).await?;
    let s = rules::apply(&m, &current, &account.name, false)?;
    let s = state.store.set_app_settings(account.id, s).await?;
    Ok(Json(app_out(&account, &s)))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    let a = app_account(&state, &caller, &app).await?;
    Ok(Json(out(&state, &a).await?))
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
