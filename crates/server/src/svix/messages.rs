//! Messages, attempts and resends.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use datahooks_domain::inputs::{object, req_str};
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

/// Svix's `MessageOut`. The payload is always present (the client requires it).
pub fn message_out(m: &Message, with_content: bool) -> MessageOut {
    MessageOut::new(m, with_content)
}

/// Svix's `MessageAttemptOut`.
pub fn attempt_out(a: &Attempt) -> MessageAttemptOut {
    MessageAttemptOut::from(a)
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
    q: QueryMap,
) -> ApiResult<Json<MessageOut>> {
    let a = app_account(&state, &caller, &app).await?;
    let m = state.store.get_message(a.id, &msg).await?;
    Ok(Json(message_out(&m, with_content(&q))))
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

fn attempt_list(attempts: Vec<Attempt>, f: &ListFilter) -> ListResponse<MessageAttemptOut> {
    let want = (f.limit - 1) as usize;
    let done = attempts.len() <= want;
    let page = &attempts[..attempts.len().min(want)];
    let iterator = if done {
        None
    } else {
        page.last().map(|a| a.id.clone())
    };
    ListResponse::new(page.iter().map(attempt_out).collect(), iterator, done)
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
    Ok(Json(attempt_list(attempts, &f)))
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
    Ok(Json(attempt_list(attempts, &f)))
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
    let mut out = Vec::new();
    for m in page {
        let d = state.store.message_deliveries(a.id, &m.id).await?;
        let d = d.iter().find(|d| d.endpoint_id == e.id);
        out.push(EndpointMessageOut {
            message: message_out(m, true),
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
