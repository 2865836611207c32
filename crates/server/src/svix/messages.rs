//! Messages, attempts and resends; tags, `with_content`/`with_msg`, and payload and attempt
//! expunge (`crate::lifecycle` rules in `datahooks_domain::delivery`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use datahooks_domain::delivery::{payload_expiry, PAYLOAD_RETENTION_DAYS};
use datahooks_domain::inputs::{object, req_str};
use datahooks_store::lifecycle::MessageExtras;
use datahooks_store::webhooks::{Attempt, ListFilter, Message, NewMessage};

use super::endpoints::endpoint_out;
use super::{app_account, limit, ms_time, time_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::{ApiRouter, MESSAGE_LIST};
use crate::schema::svix::{
    DeliveryState, EmptyObject, EndpointMessageOut, ListResponse, ListResponseEndpointMessageOut,
    ListResponseMessageAttemptOut, ListResponseMessageEndpointOut, ListResponseMessageOut,
    MessageAttemptOut, MessageEndpointOut, MessageIn, MessageOut,
};
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "POST",
        "/api/v1/app/{app}/msg",
        "Publishes a message of the account's own",
        create,
    )
    .body::<MessageIn>()
    .returns::<MessageOut>(202)
    .route(
        "GET",
        "/api/v1/app/{app}/msg",
        "Messages, newest first",
        list_messages,
    )
    .query(MESSAGE_LIST)
    .returns::<ListResponseMessageOut>(200)
    .route(
        "GET",
        "/api/v1/app/{app}/msg/{msg}",
        "A message with its payload",
        get,
    )
    .returns::<MessageOut>(200)
    .route(
        "DELETE",
        "/api/v1/app/{app}/msg/{msg}/content",
        "Expunges a message's payload; deliveries not yet made are canceled",
        expunge_content,
    )
    .no_content()
    .route(
        "DELETE",
        "/api/v1/app/{app}/msg/{msg}/attempt/{attempt}/content",
        "Expunges an attempt's response",
        expunge_attempt_content,
    )
    .no_content()
    .route(
        "GET",
        "/api/v1/app/{app}/msg/{msg}/endpoint",
        "A message's state at each endpoint",
        msg_endpoints,
    )
    .returns::<ListResponseMessageEndpointOut>(200)
    .route(
        "GET",
        "/api/v1/app/{app}/msg/{msg}/attempt/{attempt}",
        "One attempt",
        get_attempt,
    )
    .returns::<MessageAttemptOut>(200)
    .route(
        "POST",
        "/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend",
        "Resends a message to an endpoint once",
        resend,
    )
    .returns::<EmptyObject>(202)
    .route(
        "GET",
        "/api/v1/app/{app}/attempt/msg/{msg}",
        "Attempts of a message",
        attempts_by_msg,
    )
    .query(MESSAGE_LIST)
    .returns::<ListResponseMessageAttemptOut>(200)
    .route(
        "GET",
        "/api/v1/app/{app}/attempt/endpoint/{ep}",
        "Attempts at an endpoint",
        attempts_by_endpoint,
    )
    .query(MESSAGE_LIST)
    .returns::<ListResponseMessageAttemptOut>(200)
    .route(
        "GET",
        "/api/v1/app/{app}/endpoint/{ep}/msg",
        "Messages queued for an endpoint, with their status",
        endpoint_msgs,
    )
    .query(MESSAGE_LIST)
    .returns::<ListResponseEndpointMessageOut>(200)
}

/// Svix's `MessageOut`. The payload is always present (the client requires it): `{}` when
/// left out by `with_content=false`, `{"expired": true}` once expunged.
pub fn message_out(m: &Message, with_content: bool) -> MessageOut {
    MessageOut::new(m, with_content)
}

/// Svix's `MessageAttemptOut`.
pub fn attempt_out(a: &Attempt) -> MessageAttemptOut {
    MessageAttemptOut::from(a)
}

/// Lists include payloads unless `with_content=false` (which the svix client sends by default:
/// pass `with_content=True` for payloads in a list). A single message (`get`) always has its
/// payload: that is what it is read for.
fn with_content(q: &QueryMap) -> bool {
    !matches!(q.get("with_content"), Some("false" | "False" | "0"))
}

/// Svix's tag rules: at most 5, each 1–128 of `[A-Za-z0-9-_./\#]`.
pub(crate) fn tags(m: &serde_json::Map<String, Value>) -> ApiResult<Vec<String>> {
    let bad = || {
        ApiError::validation(
            &["body", "tags"],
            "validation",
            "'tags' must be a list of at most 5 tags, each 1-128 of [A-Za-z0-9-_./\\#].",
        )
    };
    let items = match m.get("tags") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 5 => items,
        Some(_) => return Err(bad()),
    };
    let mut out: Vec<String> = Vec::new();
    for v in items {
        let t = v.as_str().ok_or_else(bad)?;
        let ok = (1..=128).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./\\#".contains(c));
        if !ok {
            return Err(bad());
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// `payloadRetentionPeriod` (days, Svix's 1–90) as the payload's expiry from `now_ms`.
pub(crate) fn payload_retention(
    m: &serde_json::Map<String, Value>,
    now_ms: i64,
) -> ApiResult<Option<i64>> {
    match m.get("payloadRetentionPeriod") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .and_then(|d| payload_expiry(now_ms, d))
            .map(Some)
            .ok_or_else(|| {
                ApiError::validation(
                    &["body", "payloadRetentionPeriod"],
                    "validation",
                    format!(
                        "'payloadRetentionPeriod' must be a whole number of days from {} to {}.",
                        PAYLOAD_RETENTION_DAYS.start(),
                        PAYLOAD_RETENTION_DAYS.end()
                    ),
                )
            }),
    }
}

/// Reads the message list's query (pure, property-tested).
pub(crate) fn filter(q: &QueryMap) -> ApiResult<ListFilter> {
    let status =
        match q.int("status")? {
            None => None,
            Some(s @ 0..=4) => Some(s),
            Some(_) => return Err(ApiError::bad_request(
                "validation",
                "status must be 0 (success), 1 (pending), 2 (fail), 3 (sending) or 4 (canceled).",
            )),
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
        tag: q.get("tag").filter(|t| !t.is_empty()).map(str::to_owned),
    })
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
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
    let extras = MessageExtras {
        tags: tags(&m)?,
        payload_expire_ms: payload_retention(&m, chrono::Utc::now().timestamp_millis())?,
    };
    // While this node's deliveries wait for slots, the sender waits a moment (backpressure).
    state.hooks.admission.admit().await;
    let msg = state
        .store
        .create_message_with(
            a.id,
            NewMessage {
                event_type,
                event_id,
                channels,
                payload,
                only_endpoint: None,
            },
            extras,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(message_out(&msg, true))))
}

async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    q: QueryMap,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
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
    Ok(Json(ListResponse::new(
        page.iter().map(|m| message_out(m, wc)).collect(),
        iterator,
        done,
    )))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg)): Path<(String, String)>,
) -> ApiResult<Json<MessageOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let m = state.store.get_message(a.id, &msg).await?;
    Ok(Json(message_out(&m, true)))
}

async fn msg_endpoints(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg)): Path<(String, String)>,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let a = app_account(&state, &caller, &app).await?;
    let mut out = Vec::new();
    for d in state.store.message_deliveries(a.id, &msg).await? {
        let Ok(e) = state.store.get_endpoint(a.id, &d.endpoint_id).await else {
            continue;
        };
        out.push(MessageEndpointOut {
            endpoint: endpoint_out(&e),
            delivery: DeliveryState {
                status: d.status as i64,
                status_text: d.status.text().to_owned(),
                next_attempt: d.next_attempt.map(ms_time),
            },
        });
    }
    Ok(Json(ListResponse::new(out, None, true)))
}

/// A page of attempts; with `with_msg=true` each embeds its message as `msg` (its payload as
/// `with_content` says).
async fn attempt_list(
    state: &AppState,
    account_id: i64,
    attempts: Vec<Attempt>,
    f: &ListFilter,
    q: &QueryMap,
) -> ApiResult<ListResponse<MessageAttemptOut>> {
    let want = (f.limit - 1) as usize;
    let done = attempts.len() <= want;
    let page = &attempts[..attempts.len().min(want)];
    let iterator = if done {
        None
    } else {
        page.last().map(|a| a.id.clone())
    };
    let with_msg = q.flag("with_msg");
    let wc = with_content(q);
    let mut msgs: Vec<Message> = Vec::new();
    let mut out = Vec::with_capacity(page.len());
    for a in page {
        let mut v = attempt_out(a);
        if with_msg {
            if !msgs.iter().any(|m| m.id == a.msg_id) {
                msgs.push(state.store.get_message(account_id, &a.msg_id).await?);
            }
            v.msg = msgs
                .iter()
                .find(|m| m.id == a.msg_id)
                .map(|m| message_out(m, wc));
        }
        out.push(v);
    }
    Ok(ListResponse::new(out, iterator, done))
}

async fn attempts_by_msg(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let a = app_account(&state, &caller, &app).await?;
    let f = filter(&q)?;
    let attempts = state.store.list_attempts(a.id, Some(&msg), &f).await?;
    Ok(Json(attempt_list(&state, a.id, attempts, &f, &q).await?))
}

async fn attempts_by_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, ep)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let mut f = filter(&q)?;
    f.endpoint_id = Some(e.id);
    let attempts = state.store.list_attempts(a.id, None, &f).await?;
    Ok(Json(attempt_list(&state, a.id, attempts, &f, &q).await?))
}

async fn get_attempt(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg, attempt)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
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
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let a = app_account(&state, &caller, &app).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let mut f = filter(&q)?;
    f.endpoint_id = Some(e.id.clone());
    let msgs = state.store.list_messages(a.id, &f).await?;
    let want = (f.limit - 1) as usize;
    let done = msgs.len() <= want;
    let page = &msgs[..msgs.len().min(want)];
    let wc = with_content(&q);
    let mut out = Vec::new();
    for m in page {
        let d = state.store.message_deliveries(a.id, &m.id).await?;
        let d = d.iter().find(|d| d.endpoint_id == e.id);
        out.push(EndpointMessageOut {
            message: message_out(m, wc),
            status: d.map(|d| d.status as i64),
            status_text: d.map(|d| d.status.text().to_owned()),
            next_attempt: d.map(|d| d.next_attempt.map(ms_time)),
        });
    }
    let iterator = if done {
        None
    } else {
        page.last().map(|m| m.seq.to_string())
    };
    Ok(Json(ListResponse::new(out, iterator, done)))
}

async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg, ep)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<EmptyObject>)> {
    let a = app_account(&state, &caller, &app).await?;
    state.store.resend(a.id, &msg, &ep).await?;
    Ok((StatusCode::ACCEPTED, Json(EmptyObject {})))
}

async fn expunge_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let a = app_account(&state, &caller, &app).await?;
    state.store.expunge_message(a.id, &msg).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn expunge_attempt_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, msg, attempt)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let a = app_account(&state, &caller, &app).await?;
    state.store.expunge_attempt(a.id, &msg, &attempt).await?;
    Ok(StatusCode::NO_CONTENT)
}
