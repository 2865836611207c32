//! Endpoints: CRUD, secret and rotation, custom headers, stats, example, recover, replay.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use datahooks_domain::inputs::object;
use datahooks_store::webhooks::{Endpoint, NewMessage};
use datahooks_webhooks::endpoint as rules;
use datahooks_webhooks::signing::Secret;

use super::messages::message_out;
use super::{app_account, limit, tasks, time_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::{ApiRouter, SVIX_LIST};
use crate::schema::svix::{
    AttemptStats, BackgroundTaskOut, EndpointHeadersIn, EndpointHeadersOut, EndpointIn,
    EndpointOut, EndpointPace, EndpointSecretOut, EndpointSecretRotateIn, EndpointStats,
    EventExampleIn, ListResponse, ListResponseBackgroundTaskOut, ListResponseEndpointOut,
    MessageOut, WindowIn,
};
use crate::state::AppState;

type EpPath = Path<(String, String)>;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api/v1/app/{app}/endpoint",
        "Endpoints of an account",
        list_endpoints,
    )
    .query(SVIX_LIST)
    .returns::<ListResponseEndpointOut>(200)
    .route(
        "POST",
        "/api/v1/app/{app}/endpoint",
        "Adds an endpoint",
        create,
    )
    .body::<EndpointIn>()
    .returns::<EndpointOut>(201)
    .route("GET", "/api/v1/app/{app}/endpoint/{ep}", "An endpoint", get)
    .returns::<EndpointOut>(200)
    .route(
        "PUT",
        "/api/v1/app/{app}/endpoint/{ep}",
        "Replaces an endpoint's settings",
        put,
    )
    .body::<EndpointIn>()
    .returns::<EndpointOut>(200)
    .route(
        "PATCH",
        "/api/v1/app/{app}/endpoint/{ep}",
        "Changes some of an endpoint's settings",
        patch,
    )
    .body::<EndpointIn>()
    .returns::<EndpointOut>(200)
    .route(
        "DELETE",
        "/api/v1/app/{app}/endpoint/{ep}",
        "Deletes an endpoint",
        delete,
    )
    .no_content()
    .route(
        "GET",
        "/api/v1/app/{app}/endpoint/{ep}/secret",
        "The endpoint's signing secret",
        secret,
    )
    .returns::<EndpointSecretOut>(200)
    .route(
        "POST",
        "/api/v1/app/{app}/endpoint/{ep}/secret/rotate",
        "Rotates the signing secret (old one valid 24 h)",
        rotate,
    )
    .body::<EndpointSecretRotateIn>()
    .returns::<EndpointSecretOut>(200)
    .route(
        "GET",
        "/api/v1/app/{app}/endpoint/{ep}/headers",
        "Custom headers (sensitive values redacted)",
        get_headers,
    )
    .returns::<EndpointHeadersOut>(200)
    .route(
        "PUT",
        "/api/v1/app/{app}/endpoint/{ep}/headers",
        "Replaces custom headers",
        put_headers,
    )
    .body::<EndpointHeadersIn>()
    .no_content()
    .route(
        "PATCH",
        "/api/v1/app/{app}/endpoint/{ep}/headers",
        "Adds, changes or removes custom headers",
        patch_headers,
    )
    .body::<EndpointHeadersIn>()
    .no_content()
    .route(
        "GET",
        "/api/v1/app/{app}/endpoint/{ep}/stats",
        "Delivery counts by status",
        stats,
    )
    .returns::<EndpointStats>(200)
    .route(
        "GET",
        "/api/v1/app/{app}/endpoint/{ep}/attempt-stats",
        "Attempts by outcome in a window (default: the last 28 days)",
        attempt_stats,
    )
    .returns::<AttemptStats>(200)
    .route(
        "POST",
        "/api/v1/app/{app}/endpoint/{ep}/send-example",
        "Sends an example event to this endpoint",
        send_example,
    )
    .body::<EventExampleIn>()
    .returns::<MessageOut>(200)
    .route(
        "POST",
        "/api/v1/app/{app}/endpoint/{ep}/recover",
        "Resends messages that failed in a window of at most 14 days",
        recover,
    )
    .body::<WindowIn>()
    .returns::<BackgroundTaskOut>(202)
    .route(
        "POST",
        "/api/v1/app/{app}/endpoint/{ep}/replay-missing",
        "Sends messages never sent to this endpoint since a time",
        replay_missing,
    )
    .body::<WindowIn>()
    .returns::<BackgroundTaskOut>(202)
    .route(
        "GET",
        "/api/v1/background-task/{task}",
        "Progress of a recover or replay",
        get_task,
    )
    .returns::<BackgroundTaskOut>(200)
    .route(
        "GET",
        "/api/v1/background-task",
        "Recent background tasks",
        list_tasks,
    )
    .returns::<ListResponseBackgroundTaskOut>(200)
}

/// A signing secret given in `field` (`whsec_…`, or an ed25519 `whsk_…` key), or a new one:
/// an HMAC secret when absent, an ed25519 key when the field is the bare prefix `whsk_`.
pub(crate) fn secret_field(m: &Map<String, Value>, field: &str) -> ApiResult<Secret> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(Secret::generate()),
        Some(Value::String(s)) if s.trim() == datahooks_webhooks::ed25519::SECRET_KEY_PREFIX => {
            Ok(Secret::generate_ed25519())
        }
        Some(Value::String(s)) => {
            Secret::parse(s).map_err(|e| ApiError::bad_request(e.code(), e.to_string()))
        }
        Some(_) => Err(ApiError::bad_request(
            "validation",
            format!("'{field}' must be a string."),
        )),
    }
}

/// Svix's `EndpointOut`, plus why it is disabled.
pub fn endpoint_out(e: &Endpoint) -> EndpointOut {
    EndpointOut::from(e)
}

async fn list_endpoints(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    q: QueryMap,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let a = app_account(&state, &caller, &app).await?;
    let limit = limit(&q)?;
    let eps = state
        .store
        .list_endpoints(a.id, limit + 1, q.get("iterator"))
        .await?;
    let done = eps.len() as i64 <= limit;
    let page: Vec<&Endpoint> = eps.iter().take(limit as usize).collect();
    let iterator = if done {
        None
    } else {
        page.last().map(|e| e.id.clone())
    };
    Ok(Json(ListResponse::new(
        page.into_iter().map(endpoint_out).collect(),
        iterator,
        done,
    )))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let a = app_account(&state, &caller, &app).await?;
    let m = object(body)?;
    let custom = super::event_types::usable_custom(&state, &caller).await?;
    let input = rules::parse_with_types(&m, &a.name, &state.hooks.policy, None, &custom)?;
    rules::check_resolved(&state.hooks.policy, &input.url).await?;
    let secret = secret_field(&m, "secret")?;
    let headers = match m.get("headers") {
        None | Some(Value::Null) => None,
        Some(h) => Some(rules::check_headers(h)?),
    };
    let e = state
        .store
        .create_endpoint(a.id, input, state.hooks.vault.seal(&secret))
        .await?;
    if let Some(h) = headers {
        state.store.set_endpoint_headers(a.id, &e.id, h).await?;
    }
    Ok((StatusCode::CREATED, Json(endpoint_out(&e))))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
) -> ApiResult<Json<EndpointOut>> {
    let a = app_account(&state, &caller, &app).await?;
    Ok(Json(endpoint_out(
        &state.store.get_endpoint(a.id, &ep).await?,
    )))
}

async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<EndpointOut>> {
    let a = app_account(&state, &caller, &app).await?;
    state.store.get_endpoint(a.id, &ep).await?;
    let custom = super::event_types::usable_custom(&state, &caller).await?;
    let input =
        rules::parse_with_types(&object(body)?, &a.name, &state.hooks.policy, None, &custom)?;
    rules::check_resolved(&state.hooks.policy, &input.url).await?;
    Ok(Json(endpoint_out(
        &state.store.update_endpoint(a.id, &ep, input).await?,
    )))
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<EndpointOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let current = state.store.get_endpoint(a.id, &ep).await?;
    let custom = super::event_types::usable_custom(&state, &caller).await?;
    let input = rules::parse_with_types(
        &object(body)?,
        &a.name,
        &state.hooks.policy,
        Some(&current),
        &custom,
    )?;
    if input.url != current.url {
        rules::check_resolved(&state.hooks.policy, &input.url).await?;
    }
    Ok(Json(endpoint_out(
        &state.store.update_endpoint(a.id, &ep, input).await?,
    )))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
) -> ApiResult<StatusCode> {
    let a = app_account(&state, &caller, &app).await?;
    state.store.delete_endpoint(a.id, &ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn open_secret(state: &AppState, sealed: &str) -> ApiResult<Secret> {
    state.hooks.vault.open(sealed).map_err(|e| {
        tracing::error!(error = %e, "cannot open an endpoint secret");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The signing secret cannot be read.",
        )
    })
}

async fn secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
) -> ApiResult<Json<EndpointSecretOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    Ok(Json(EndpointSecretOut {
        key: open_secret(&state, &e.secret)?.public_text(),
    }))
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    body: axum::body::Bytes,
) -> ApiResult<Json<EndpointSecretOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let (secret, expires) = rotation(&body)?;
    state
        .store
        .rotate_secret(a.id, &ep, state.hooks.vault.seal(&secret), expires)
        .await?;
    Ok(Json(EndpointSecretOut {
        key: secret.public_text(),
    }))
}

/// A rotation body (optional: an empty one rotates to a generated secret): the new secret and
/// when the old one stops being valid (unix ms).
pub(crate) fn rotation(body: &[u8]) -> ApiResult<(Secret, i64)> {
    let m = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        let v = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "malformed_json",
                format!("Malformed JSON in the request body: {e}."),
            )
        })?;
        object(v)?
    };
    let secret = secret_field(&m, "key")?;
    let grace = match m.get("gracePeriodSeconds") {
        None | Some(Value::Null) => 86_400,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|g| (0..=604_800).contains(&g)) => {
            n.as_i64().unwrap_or(86_400)
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'gracePeriodSeconds' must be 0 to 604800.",
            ))
        }
    };
    let expires = chrono::Utc::now().timestamp_millis() + grace * 1000;
    Ok((secret, expires))
}

async fn get_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let (headers, sensitive) = rules::redact(&e.headers);
    Ok(Json(EndpointHeadersOut { headers, sensitive }))
}

async fn put_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let a = app_account(&state, &caller, &app).await?;
    let m = object(body)?;
    let headers = rules::check_headers(m.get("headers").unwrap_or(&Value::Null))?;
    state.store.set_endpoint_headers(a.id, &ep, headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn patch_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let m = object(body)?;
    let mut headers = e.headers.clone();
    if let Some(h) = m.get("headers") {
        headers.extend(rules::check_headers(h)?);
    }
    match m.get("deleteHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) => {
            for n in names.iter().filter_map(Value::as_str) {
                headers.remove(&n.to_ascii_lowercase());
            }
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'deleteHeaders' must be a list of names.",
            ))
        }
    }
    rules::check_header_count(&headers)?;
    state
        .store
        .set_endpoint_headers(a.id, &e.id, headers)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    q: QueryMap,
) -> ApiResult<Json<EndpointStats>> {
    let a = app_account(&state, &caller, &app).await?;
    // `since`/`until` count the messages created in that window; neither: all of them.
    let since = q.get("since").map(|s| time_ms(s, "since")).transpose()?;
    let until = q.get("until").map(|s| time_ms(s, "until")).transpose()?;
    let s = if since.is_none() && until.is_none() {
        state.store.endpoint_stats(a.id, &ep).await?
    } else {
        let (since, until) = (since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX));
        if since >= until {
            return Err(ApiError::bad_request(
                "validation",
                "'since' must be before 'until'.",
            ));
        }
        state
            .store
            .endpoint_stats_between(a.id, &ep, since, until)
            .await?
    };
    // Beyond Svix's counts: the endpoint's delivery pace (see datahooks_webhooks::pace).
    let record = state.store.endpoint_pace(a.id, &ep).await?;
    let p =
        datahooks_webhooks::paced::shown(record.as_ref(), chrono::Utc::now().timestamp_millis());
    Ok(Json(EndpointStats {
        success: s.success,
        pending: s.pending,
        sending: s.sending,
        fail: s.fail,
        canceled: s.canceled,
        pace: EndpointPace {
            state: p.state.to_owned(),
            until: p.until.map(super::ms_time),
            limit: p.limit,
            rate_cap: p.rate_cap,
            recent_rate: p.recent_rate,
        },
    }))
}

/// The window `attempt-stats` counts when the query gives no `since`.
const DEFAULT_STATS_DAYS: i64 = 28;

async fn attempt_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    q: QueryMap,
) -> ApiResult<Json<AttemptStats>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let until = match q.get("until") {
        Some(u) => time_ms(u, "until")?,
        None => chrono::Utc::now().timestamp_millis() + 1,
    };
    let since = match q.get("since") {
        Some(s) => time_ms(s, "since")?,
        None => until - DEFAULT_STATS_DAYS * 86_400_000,
    };
    if until <= since {
        return Err(ApiError::bad_request(
            "validation",
            "'until' must be after 'since'.",
        ));
    }
    let s = state.store.attempt_stats(a.id, &e.id, since, until).await?;
    // A canceled delivery makes no attempt (it was canceled before it went out), so no
    // attempt is ever canceled.
    Ok(Json(AttemptStats {
        success: s.success,
        fail: s.fail,
        canceled: 0,
    }))
}

/// Svix's test event: sent to one endpoint whatever its event-type filter.
const PING: &str = "svix.ping";

async fn send_example(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<MessageOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let m = object(body)?;
    let event_type = datahooks_domain::inputs::req_str(&m, "eventType")?;
    let payload = if event_type == PING {
        json!({"type": PING, "data": {"success": true}})
    } else {
        super::event_types::example_payload(&event_type, &a.name)?
    };
    let msg = state
        .store
        .create_message(
            a.id,
            NewMessage {
                event_type,
                event_id: None,
                channels: Vec::new(),
                payload: payload.to_string(),
                only_endpoint: Some(e.id),
            },
        )
        .await?;
    Ok(Json(message_out(&msg, true)))
}

fn window(m: &Map<String, Value>) -> ApiResult<(i64, i64)> {
    let since = match m.get("since") {
        Some(Value::String(s)) => time_ms(s, "since")?,
        _ => {
            return Err(ApiError::bad_request(
                "validation",
                "'since' (an RFC 3339 time) is required.",
            ))
        }
    };
    let until = match m.get("until") {
        Some(Value::String(s)) => time_ms(s, "until")?,
        None | Some(Value::Null) => chrono::Utc::now().timestamp_millis() + 1,
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'until' must be an RFC 3339 time.",
            ))
        }
    };
    if until <= since {
        return Err(ApiError::bad_request(
            "validation",
            "'until' must be after 'since'.",
        ));
    }
    Ok((since, until))
}

/// Starts a recover or replay as a background task and answers 202 with its record.
async fn start_task(
    state: AppState,
    account_id: i64,
    ep: String,
    m: Map<String, Value>,
    kind: tasks::Kind,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let (since, until) = window(&m)?;
    let e = state.store.get_endpoint(account_id, &ep).await?;
    let record = tasks::start(&state, account_id, &e.id, kind, since, until).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

/// The longest window a recover may cover, as in Svix.
const MAX_RECOVER_MS: i64 = 14 * 86_400_000;

async fn recover(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let a = app_account(&state, &caller, &app).await?;
    let m = object(body)?;
    let (since, until) = window(&m)?;
    if until - since > MAX_RECOVER_MS {
        return Err(ApiError::validation(
            &["body", "since"],
            "window_too_long",
            "A recover covers at most 14 days: give a later 'since' (or an earlier 'until').",
        ));
    }
    start_task(state, a.id, ep, m, tasks::Kind::Recover).await
}

async fn replay_missing(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): EpPath,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let a = app_account(&state, &caller, &app).await?;
    start_task(state, a.id, ep, object(body)?, tasks::Kind::ReplayMissing).await
}

/// Accounts the caller manages, by id.
async fn managed_ids(state: &AppState, caller: &Caller) -> ApiResult<Vec<i64>> {
    Ok(state
        .store
        .managed_accounts(caller.0.id)
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect())
}

async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<BackgroundTaskOut>> {
    let mine = managed_ids(&state, &caller).await?;
    tasks::get(&state, &id, &mine)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListResponse<BackgroundTaskOut>>> {
    let mine = managed_ids(&state, &caller).await?;
    let all: Vec<BackgroundTaskOut> = state
        .store
        .list_tasks(&mine)
        .await?
        .iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect();
    Ok(Json(ListResponse::new(all, None, true)))
}
