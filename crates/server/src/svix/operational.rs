//! Operational webhook endpoints (`operational_webhook.endpoint.*` in the `svix` client):
//! where an account is told about its own webhook set-up (`endpoint.created`,
//! `endpoint.disabled`, `message.attempt.exhausted`, …; see `datahooks_domain::operational`).
//!
//! Scope: the API key's own account. Svix has one set per environment; here each account is
//! its own environment, so a user's key manages the operational endpoints of the user's
//! account, which hear about that account's application. An organization's are set on its
//! Manage webhooks page by its admins. Webhooks need not be enabled to set them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use datahooks_domain::inputs::object;
use datahooks_store::webhooks::Endpoint;
use datahooks_webhooks::endpoint as rules;
use datahooks_webhooks::op_endpoint::parse_operational;

use super::endpoints::{open_secret, rotation, secret_field};
use super::limit;
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::{ApiRouter, SVIX_LIST};
use crate::schema::svix::{
    EndpointHeadersIn, EndpointHeadersOut, EndpointSecretOut, EndpointSecretRotateIn, ListResponse,
    ListResponseOperationalWebhookEndpointOut, OperationalWebhookEndpointIn,
    OperationalWebhookEndpointOut,
};
use crate::state::AppState;

const BASE: &str = "/api/v1/operational-webhook/endpoint";

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        BASE,
        "Operational endpoints of the key's account",
        list_endpoints,
    )
    .query(SVIX_LIST)
    .returns::<ListResponseOperationalWebhookEndpointOut>(200)
    .route("POST", BASE, "Adds an operational endpoint", create)
    .body::<OperationalWebhookEndpointIn>()
    .returns::<OperationalWebhookEndpointOut>(201)
    .route(
        "GET",
        "/api/v1/operational-webhook/endpoint/{ep}",
        "An operational endpoint",
        get,
    )
    .returns::<OperationalWebhookEndpointOut>(200)
    .route(
        "PUT",
        "/api/v1/operational-webhook/endpoint/{ep}",
        "Replaces an operational endpoint's settings (creates it, with the path as uid, if absent)",
        upsert,
    )
    .body::<OperationalWebhookEndpointIn>()
    .returns::<OperationalWebhookEndpointOut>(200)
    .route(
        "DELETE",
        "/api/v1/operational-webhook/endpoint/{ep}",
        "Deletes an operational endpoint",
        delete,
    )
    .no_content()
    .route(
        "GET",
        "/api/v1/operational-webhook/endpoint/{ep}/secret",
        "The operational endpoint's signing secret",
        secret,
    )
    .returns::<EndpointSecretOut>(200)
    .route(
        "POST",
        "/api/v1/operational-webhook/endpoint/{ep}/secret/rotate",
        "Rotates its signing secret (old one valid 24 h by default)",
        rotate,
    )
    .body::<EndpointSecretRotateIn>()
    .no_content()
    .route(
        "GET",
        "/api/v1/operational-webhook/endpoint/{ep}/headers",
        "Its custom headers (sensitive values redacted)",
        get_headers,
    )
    .returns::<EndpointHeadersOut>(200)
    .route(
        "PUT",
        "/api/v1/operational-webhook/endpoint/{ep}/headers",
        "Replaces its custom headers",
        put_headers,
    )
    .body::<EndpointHeadersIn>()
    .no_content()
}

/// Svix's `OperationalWebhookEndpointOut`.
pub fn op_endpoint_out(e: &Endpoint) -> OperationalWebhookEndpointOut {
    OperationalWebhookEndpointOut::from(e)
}

async fn list_endpoints(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> ApiResult<Json<ListResponse<OperationalWebhookEndpointOut>>> {
    let limit = limit(&q)?;
    let eps = state
        .store
        .list_op_endpoints(caller.0.id, limit + 1, q.get("iterator"))
        .await?;
    let done = eps.len() as i64 <= limit;
    let page: Vec<&Endpoint> = eps.iter().take(limit as usize).collect();
    let iterator = if done {
        None
    } else {
        page.last().map(|e| e.id.clone())
    };
    Ok(Json(ListResponse::new(
        page.into_iter().map(op_endpoint_out).collect(),
        iterator,
        done,
    )))
}

/// Creates an operational endpoint of `account_id` from a body (used by the web page too).
pub async fn create_for(
    state: &AppState,
    account_id: i64,
    m: &Map<String, Value>,
) -> ApiResult<Endpoint> {
    let input = parse_operational(m, &state.hooks.policy, None)?;
    rules::check_resolved(&state.hooks.policy, &input.url).await?;
    let secret = secret_field(m, "secret")?;
    let headers = match m.get("headers") {
        None | Some(Value::Null) => Map::new(),
        Some(h) => rules::check_headers(h)?,
    };
    Ok(state
        .store
        .create_op_endpoint(account_id, input, state.hooks.vault.seal(&secret), headers)
        .await?)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<OperationalWebhookEndpointOut>)> {
    let e = create_for(&state, caller.0.id, &object(body)?).await?;
    Ok((StatusCode::CREATED, Json(op_endpoint_out(&e))))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep): Path<String>,
) -> ApiResult<Json<OperationalWebhookEndpointOut>> {
    Ok(Json(op_endpoint_out(
        &state.store.get_op_endpoint(caller.0.id, &ep).await?,
    )))
}

async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<OperationalWebhookEndpointOut>> {
    let account = caller.0.id;
    let mut m = object(body)?;
    match state.store.get_op_endpoint(account, &ep).await {
        Ok(_) => {
            let input = parse_operational(&m, &state.hooks.policy, None)?;
            rules::check_resolved(&state.hooks.policy, &input.url).await?;
            Ok(Json(op_endpoint_out(
                &state.store.update_op_endpoint(account, &ep, input).await?,
            )))
        }
        Err(datahooks_store::Error::Domain(datahooks_domain::Error::NotFound)) => {
            // Svix's upsert: an unknown id is taken as the new endpoint's uid.
            m.entry("uid").or_insert_with(|| json!(ep));
            Ok(Json(op_endpoint_out(
                &create_for(&state, account, &m).await?,
            )))
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep): Path<String>,
) -> ApiResult<StatusCode> {
    state.store.delete_op_endpoint(caller.0.id, &ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep): Path<String>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let e = state.store.get_op_endpoint(caller.0.id, &ep).await?;
    Ok(Json(EndpointSecretOut {
        key: open_secret(&state, &e.secret)?.public_text(),
    }))
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let (secret, expires) = rotation(&body)?;
    state
        .store
        .rotate_op_secret(caller.0.id, &ep, state.hooks.vault.seal(&secret), expires)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep): Path<String>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let e = state.store.get_op_endpoint(caller.0.id, &ep).await?;
    let (headers, sensitive) = rules::redact(&e.headers);
    Ok(Json(EndpointHeadersOut { headers, sensitive }))
}

async fn put_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let m = object(body)?;
    let headers = rules::check_headers(m.get("headers").unwrap_or(&Value::Null))?;
    state
        .store
        .set_op_endpoint_headers(caller.0.id, &ep, headers)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
