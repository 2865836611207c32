//! Svix's `authentication` family for the app portal: `app-portal-access` makes a sign-in link
//! to the Manage webhooks page of one account (see `crate::web::portal`), `logout` ends the
//! link whose token it is called with, and `expire-all` ends every link of an application.
//!
//! Svix answers with a JWT for its hosted portal; here the token is 256 random bits kept as a
//! hash in the store, and the URL is our own page. Capabilities and feature flags are not
//! modelled: a link may do what the page does, or only look when `readOnly` is set.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde_json::{Map, Value};

use datahooks_domain::inputs::object;
use datahooks_store::NewPortalToken;

use super::app_account;
use crate::error::{ApiError, ApiResult};
use crate::extract::{key_from_header, Caller};
use crate::routes::ApiRouter;
use crate::schema::svix::{AppPortalAccessIn, AppPortalAccessOut, ApplicationTokenExpireIn};
use crate::state::AppState;
use crate::web::session::random_hex;

/// How long a link lives when the caller does not say: it is a sign-in link, not a key.
pub const DEFAULT_EXPIRY_SECS: i64 = 3600;
/// Svix's bounds for `expiry`: one hour to seven days.
pub const EXPIRY_SECS: std::ops::RangeInclusive<i64> = 3600..=7 * 24 * 3600;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "POST",
        "/api/v1/auth/app-portal-access/{app}",
        "A short-lived sign-in link to the account's Manage webhooks page",
        portal_access,
    )
    .body::<AppPortalAccessIn>()
    .returns::<AppPortalAccessOut>(200)
    .route(
        "POST",
        "/api/v1/auth/logout",
        "Ends the app portal link whose token authorizes the call",
        logout,
    )
    .no_content()
    .route(
        "POST",
        "/api/v1/auth/app/{app}/expire-all",
        "Ends the application's app portal links and their sessions",
        expire_all,
    )
    .body::<ApplicationTokenExpireIn>()
    .no_content()
}

/// An optional JSON object body (the client may send none).
fn optional_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let v = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!("Malformed JSON in the request body: {e}."),
        )
    })?;
    Ok(object(v)?)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(key_from_header)
}

async fn portal_access(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<AppPortalAccessOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let m = optional_object(&body)?;
    let expiry = match m.get("expiry") {
        None | Some(Value::Null) => DEFAULT_EXPIRY_SECS,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|e| EXPIRY_SECS.contains(&e)) => {
            n.as_i64().unwrap_or(DEFAULT_EXPIRY_SECS)
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'expiry' must be 3600 to 604800 seconds (one hour to seven days).",
            ))
        }
    };
    let session_id = match m.get("sessionId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'sessionId' must be a string of 1-256 characters.",
            ))
        }
    };
    let read_only = match m.get("readOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'readOnly' must be true or false.",
            ))
        }
    };
    // The link is bound to the key that made it: revoking the key ends it.
    let key = bearer(&headers).ok_or_else(ApiError::bad_key)?;
    let token = random_hex();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let new = NewPortalToken {
        token: &token,
        account_id: a.id,
        session_id,
        read_only,
        now_ms,
        expires_ms: now_ms + expiry * 1000,
    };
    state
        .store
        .create_portal_token(key, new)
        .await?
        .ok_or_else(ApiError::bad_key)?;
    tracing::info!(account = %a.name, expiry, read_only, "app portal link made");
    Ok(Json(AppPortalAccessOut {
        url: state.url(&format!("/ui/portal/{token}")),
        token,
    }))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<StatusCode> {
    let token = bearer(&headers).ok_or_else(ApiError::unauthenticated)?;
    if state.store.end_portal_token(token).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not_a_portal_token",
            "Only an app portal token (from app-portal-access) can be logged out.",
        ))
    }
}

async fn expire_all(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let a = app_account(&state, &caller, &app).await?;
    let m = optional_object(&body)?;
    // `expiry`: seconds the links still work (a grace period); none: they end now.
    let grace = match m.get("expiry") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|e| (0..=604_800).contains(&e)) => {
            n.as_i64().unwrap_or(0)
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'expiry' must be 0 to 604800 seconds.",
            ))
        }
    };
    let session_ids = match m.get("sessionIds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::bad_request("validation", "'sessionIds' must be a list of strings.")
                })?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'sessionIds' must be a list of strings.",
            ))
        }
    };
    let at = chrono::Utc::now().timestamp_millis() + grace * 1000;
    state
        .store
        .expire_portal_tokens(a.id, session_ids, at)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
