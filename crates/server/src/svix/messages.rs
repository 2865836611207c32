//! Messages, attempts and resends.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use datahooks_domain::inputs::{object, req_str};
use datahooks_store::webhooks::{Attempt, ListFilter, Message, NewMessage};

use super::endpoints::endpoint_out;
use super::{app_account, limit, list, ms_time, time_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::ApiRouter;
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "POST",
        "/api/v1/app/{app}/msg",
        "Publishes a message of the account's own",
        create,
    )
    .route(
        "GET",
        "/api/v1/app/{app}/msg",
        "Messages, newest first",
        list_messages,
    )
    .route(
        "GET",
        "/api/v1/app/{app}/msg/{msg}",
        "A message with its payload",
        get,
    )
    .route(
        "GET",
        "/api/v1/app/{app}/msg/{msg}/endpoint",
        "A message's state at each endpoint",
        msg_endpoints,
    )
    .route(
        "GET",
        "/api/v1/app/{app}/msg/{msg}/attempt/{attempt}",
        "One attempt",
        get_attempt,
    )
    .route(
        "POST",
        "/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend",
        "Resends a message to an endpoint once",
        resend,
    )
    .route(
        "GET",
        "/api/v1/app/{app}/attempt/msg/{msg}",
        "Attempts of a message",
        attempts_by_msg,
    )
    .route(
        "GET",
        "/api/v1/app/{app}/attempt/endpoint/{ep}",
        "Attempts at an endpoint",
        attempts_by_endpoint,
    )
    .route(
        "GET",
        "/api/v1/app/{app}/endpoint/{ep}/msg",
        "Messages queued for an endpoint, with their status",
        endpoint_msgs,
    )
}

/// Svix's `MessageOut`. The payload is always present (the client requires it).
pub fn message_out(m: &Message, with_content: bool) -> Value {
    let payload: Value = if with_content {
        serde_json::from_str(&m.payload).unwrap_or(Value::Null)
    } else {
        json!({})
    };
    json!({
        "id": m.id,
        "eventId": m.event_id,
        "eventType": m.event_type,
        "payload": payload,
        "channels": if m.channels.is_empty() { Value::Null } else { json!(m.channels) },
        "tags": null,
        "timestamp": m.created_at,
    })
}

/// Svix's `MessageAttemptOut`.
pub fn attempt_out(a: &Attempt) -> Value {
    json!({
        "id": a.id,
        "msgId": a.msg_id,
        "endpointId": a.endpoint_id,
        "url": a.url,
        "response": a.response,
        "responseStatusCode": a.response_status_code,
        "responseDurationMs": a.duration_ms,
        "status": a.status,
        "statusText": a.status_text(),
        "triggerType": a.trigger_type,
        "timestamp": a.timestamp,
    })
}

/// Content is included unless `with_content=false` is asked for... except that the svix
/// client sends `false` by default and still requires `payload`; we send the payload anyway
/// then, since withholding it gains nothing here.
fn with_content(_q: &QueryMap) -> bool {
    true
}

/// Reads the message list's query (pure, property-tested).
pub(crate) fn filter(q: &QueryMap) -> ApiResult<ListFilter> {
    let status = match q.int("status")? {
        None => None,
        Some(s @ 0..=3) => Some(s),
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "status must be 0 (success), 1 (pending), 2 (fail) or 3 (sending).",
            ))
        }
    };
    Ok(ListFilter {
        limit: limit(q)? + 1,
        iterator: q.get("iterator").map(str::to_owned),
        event_types: q
            .get("event_types")
            .map(|s| {
                s.split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        channel: q
            .get("channel")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        status,
        endpoint_id: q.get("endpoint_id").map(str::to_owned),
        before: q.get("before").map(|s| time_ms(s, "before")).transpose()?,
        after: q.get("after").map(|s| time_ms(s, "after")).transpose()?,
    })
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let a = app_account(&state, &caller, &app).await?;
    let m = object(body)?;
    let event_type = req_str(&m, "eventType")?;
    let valid = !event_type.is_empty()
        && event_type.len() <= 256
        && event_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(ApiError::bad_request(
            "validation",
            "'eventType' must be 1-256 of [A-Za-z0-9-_.].",
        ));
    }
    super::event_types::check_message_type(&state, &caller, &event_type).await?;
    let payload = match m.get("payload") {
        Some(p @ Value::Object(_)) => p.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "validation",
                "'payload' must be a JSON object.",
            ))
        }
    };
    let event_id = match m.get("eventId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'eventId' must be a string of 1-256 characters.",
            ))
        }
    };
    let channels = match m.get("channels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .filter(|c| c.len() <= 5)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "validation",
                    "'channels' must be a list of at most 5 strings.",
                )
            })?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "validation",
                "'channels' must be a list of strings.",
            ))
        }
    };
    let msg = state
        .store
        .create_message(
            a.id,
            NewMessage {
                event_type,
                event_id,
                channels,
                payload,
                only_endpoint: None,
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(message_out(&msg, true))))
}

async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    q: QueryMap,
) -> ApiResult<Json<Value>> {
    let a = app_account(&state, &caller, &app).await?;
    let f = filter(&q)?;
    let msgs = state.store.list_messages(a.id, &f).await?;
    let want = (f.limit - 1) as usize;
    let done = msgs.len() <= want;
    let page = &msgs[..msgs.len().min(want)];
    let iterator = if done {
        None
    } else {
        page.last().map(|m| m.seq.to_string())
    };
    let wc = with_content(&q);
    Ok(Json(list(
        page.iter().map(|m| message_out(m, wc)).collect(),
        iterator,
        done,
    )))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<Value>> {
    let a = app_account(&state, &caller, &app).await?;
    let m = state.store.get_message(a.id, &msg).await?;
    Ok(Json(message_out(&m, with_content(&q))))
}

async fn msg_endpoints(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let a = app_account(&state, &caller, &app).await?;
    let mut out = Vec::new();
    for d in state.store.message_deliveries(a.id, &msg).await? {
        let Ok(e) = state.store.get_endpoint(a.id, &d.endpoint_id).await else {
            continue;
        };
        let mut v = endpoint_out(&e);
        v["status"] = json!(d.status as i64);
        v["statusText"] = json!(d.status.text());
        v["nextAttempt"] = json!(d.next_attempt.map(ms_time));
        out.push(v);
    }
    Ok(Json(list(out, None, true)))
}

fn attempt_list(attempts: Vec<Attempt>, f: &ListFilter) -> Value {
    let want = (f.limit - 1) as usize;
    let done = attempts.len() <= want;
    let page = &attempts[..attempts.len().min(want)];
    let iterator = if done {
        None
    } else {
        page.last().map(|a| a.id.clone())
    };
    list(page.iter().map(attempt_out).collect(), iterator, done)
}

async fn attempts_by_msg(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<Value>> {
    let a = app_account(&state, &caller, &app).await?;
    let f = filter(&q)?;
    let attempts = state.store.list_attempts(a.id, Some(&msg), &f).await?;
    Ok(Json(attempt_list(attempts, &f)))
}

async fn attempts_by_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<Value>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let mut f = filter(&q)?;
    f.endpoint_id = Some(e.id);
    let attempts = state.store.list_attempts(a.id, None, &f).await?;
    Ok(Json(attempt_list(attempts, &f)))
}

async fn get_attempt(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg, attempt)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let a = app_account(&state, &caller, &app).await?;
    Ok(Json(attempt_out(
        &state.store.get_attempt(a.id, &msg, &attempt).await?,
    )))
}

async fn endpoint_msgs(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<Value>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let mut f = filter(&q)?;
    f.endpoint_id = Some(e.id.clone());
    let msgs = state.store.list_messages(a.id, &f).await?;
    let want = (f.limit - 1) as usize;
    let done = msgs.len() <= want;
    let page = &msgs[..msgs.len().min(want)];
    let mut out = Vec::new();
    for m in page {
        let mut v = message_out(m, true);
        let d = state.store.message_deliveries(a.id, &m.id).await?;
        if let Some(d) = d.iter().find(|d| d.endpoint_id == e.id) {
            v["status"] = json!(d.status as i64);
            v["statusText"] = json!(d.status.text());
            v["nextAttempt"] = json!(d.next_attempt.map(ms_time));
        }
        out.push(v);
    }
    let iterator = if done {
        None
    } else {
        page.last().map(|m| m.seq.to_string())
    };
    Ok(Json(list(out, iterator, done)))
}

async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg, ep)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let a = app_account(&state, &caller, &app).await?;
    state.store.resend(a.id, &msg, &ep).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}
