//! The event stream: `GET /api/v1/app/{app}/stream`, Server-Sent Events of an account's
//! messages, and `POST /api/v1/app/{app}/stream/ack`, where a listen session reports the
//! answer it got. `datahooks listen` is its client; anyone with a key can consume it too.
//!
//! - The stream opens with an `event: listen` carrying the account's **listen endpoint** id and
//!   its signing secret (`whsec_…`), then sends each message as `event: message` with
//!   `id: <seq>`: the messages table's order, so a client that reconnects with
//!   `Last-Event-ID` (or `?after=SEQ`) gets exactly what it missed. Without either, it starts
//!   after the newest message (only new events, as `stripe listen` does).
//! - It waits on the store's commit signal, not on a timer; the `BACKSTOP` re-read only covers
//!   a commit on another PostgreSQL node that sent no NOTIFY (one that queued no delivery).
//! - Filters: `event_types=a,b` and `channel=owner/name`, with an endpoint's subscription
//!   rules (`domain::events::endpoint_wants`).
//! - The listen endpoint (uid `datahooks-listen`, disabled with reason `listen`, so the
//!   worker never queues for it) is created on first use. Its secret signs what the CLI
//!   forwards, and each ack becomes one of its attempts: the message log shows every
//!   forwarded event with the local answer, like any endpoint's delivery.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use datahooks_domain::events::endpoint_wants;
use datahooks_domain::inputs::object;
use datahooks_store::stream::{Forwarded, LISTEN_REASON, LISTEN_UID};
use datahooks_store::webhooks::{Endpoint, EndpointInput, Message};
use datahooks_store::Account;
use datahooks_webhooks::signing::Secret;

use super::app_account;
use super::messages::attempt_out;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::ApiRouter;
use crate::schema::svix::{ListenAckIn, MessageAttemptOut};
use crate::state::AppState;

/// Messages read per query.
const BATCH: i64 = 100;
/// Longest wait without a commit signal before reading again.
const BACKSTOP: Duration = Duration::from_secs(30);
/// The listen endpoint's URL: not an address (the CLI knows where it forwards; each attempt
/// records that URL).
pub const LISTEN_URL: &str = "listen:";
/// Longest response body kept from an ack, as for deliveries.
const MAX_RESPONSE: usize = 20_000;

/// The stream's routes.
pub fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api/v1/app/{app}/stream",
        "Server-Sent Events of the account's messages (resumable with Last-Event-ID)",
        stream,
    )
    .returns_media(200, "text/event-stream")
    .route(
        "POST",
        "/api/v1/app/{app}/stream/ack",
        "Records a listen session's local answer as an attempt of the listen endpoint",
        ack,
    )
    .body::<ListenAckIn>()
    .returns::<MessageAttemptOut>(201)
}

/// What a stream sends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamFilter {
    /// Only these event types (`None` = all).
    pub event_types: Option<Vec<String>>,
    /// Only this channel (dataset `owner/name`).
    pub channels: Option<Vec<String>>,
}

impl StreamFilter {
    /// Reads `event_types` (comma-separated) and `channel`.
    pub fn from_query(q: &QueryMap) -> StreamFilter {
        let list = |k: &str| {
            q.get(k).and_then(|v| {
                let items: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                (!items.is_empty()).then_some(items)
            })
        };
        StreamFilter {
            event_types: list("event_types"),
            channels: list("channel"),
        }
    }

    /// Whether a message passes, by the same rule as an endpoint's subscription.
    pub fn wants(&self, m: &Message) -> bool {
        endpoint_wants(
            self.event_types.as_deref(),
            self.channels.as_deref(),
            &m.event_type,
            &m.channels,
        )
    }
}

/// Where to resume: `Last-Event-ID` first (what an EventSource sends on reconnect), then
/// `?after=`; `None` when neither is given.
pub fn resume_from(headers: &HeaderMap, q: &QueryMap) -> ApiResult<Option<i64>> {
    let bad = || {
        ApiError::bad_request(
            "validation",
            "Last-Event-ID (or after) must be the id of an event of this stream: a whole number.",
        )
    };
    if let Some(v) = headers.get("last-event-id") {
        let s = v.to_str().map_err(|_| bad())?.trim();
        if s.is_empty() {
            return Ok(None);
        }
        return s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(bad);
    }
    match q.get("after") {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(bad),
    }
}

/// The `event: message` of a message. `payload` is the exact JSON text the message holds
/// (a string, so a client signs the same bytes the server would).
pub fn message_event(m: &Message) -> Event {
    let data = json!({
        "id": m.id,
        "eventType": m.event_type,
        "eventId": m.event_id,
        "channels": m.channels,
        "timestamp": m.created_at,
        "payload": m.payload,
    });
    Event::default()
        .id(m.seq.to_string())
        .event("message")
        .data(data.to_string())
}

/// The account's listen endpoint, created (disabled, reason `listen`) on first use.
pub async fn listen_endpoint(state: &AppState, a: &Account) -> ApiResult<Endpoint> {
    let e = match state.store.get_endpoint(a.id, LISTEN_UID).await {
        Ok(e) => e,
        Err(e) if is_not_found(&e) => {
            let input = EndpointInput {
                url: LISTEN_URL.to_owned(),
                description:
                    "datahooks listen: events forwarded by the CLI to a developer's machine"
                        .to_owned(),
                version: 1,
                disabled: true,
                uid: Some(LISTEN_UID.to_owned()),
                ..Default::default()
            };
            let sealed = state.hooks.vault.seal(&Secret::generate());
            match state.store.create_endpoint(a.id, input, sealed).await {
                Ok(e) => e,
                // Another session created it first.
                Err(datahooks_store::Error::Domain(datahooks_domain::Error::AlreadyExists(_))) => {
                    state.store.get_endpoint(a.id, LISTEN_UID).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if e.url != LISTEN_URL {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("The endpoint with uid {LISTEN_UID:?} is not a listen endpoint; rename its uid to use datahooks listen."),
        ));
    }
    if !(e.disabled && e.disabled_reason.as_deref() == Some(LISTEN_REASON)) {
        state.store.mark_listen_endpoint(a.id, &e.id).await?;
    }
    Ok(e)
}

fn is_not_found(e: &datahooks_store::Error) -> bool {
    matches!(
        e,
        datahooks_store::Error::Domain(datahooks_domain::Error::NotFound)
    )
}

async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult<Response> {
    let a = app_account(&state, &caller, &app).await?;
    let filter = StreamFilter::from_query(&q);
    let resume = resume_from(&headers, &q)?;
    let e = listen_endpoint(&state, &a).await?;
    let secret = state.hooks.vault.open(&e.secret).map_err(|err| {
        tracing::error!(error = %err, "cannot open the listen endpoint's secret");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The signing secret cannot be read.",
        )
    })?;
    let after = match resume {
        Some(n) => n,
        None => state.store.last_message_seq(a.id).await?,
    };
    let hello = Event::default()
        .event("listen")
        .data(json!({"endpointId": e.id, "secret": secret.to_whsec(), "after": after}).to_string());
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    // The first event is queued before the pump starts, so it always comes first.
    let _ = tx.try_send(hello);
    tokio::spawn(pump(state, a.id, filter, after, tx));
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Sends the account's messages after `after` that pass `filter`, then waits for a commit
/// and sends the new ones, until the client goes away or the server shuts down.
async fn pump(
    state: AppState,
    account: i64,
    filter: StreamFilter,
    mut after: i64,
    tx: tokio::sync::mpsc::Sender<Event>,
) {
    let mut commits = state.store.commits();
    let mut closing = state.hooks.closing.subscribe();
    loop {
        // Marked seen before reading: a commit after this line wakes the wait below.
        commits.borrow_and_update();
        let batch = match state.store.messages_after(account, after, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "event stream: cannot read messages");
                let _ = tx
                    .send(Event::default().event("error").data(
                        json!({"code": "internal", "detail": "The stream broke off; reconnect with Last-Event-ID."}).to_string(),
                    ))
                    .await;
                return;
            }
        };
        let full = batch.len() as i64 == BATCH;
        for m in batch {
            after = m.seq;
            if filter.wants(&m) && tx.send(message_event(&m)).await.is_err() {
                return;
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return },
            () = tx.closed() => return,
            _ = closing.wait_for(|c| *c) => return,
            () = tokio::time::sleep(BACKSTOP) => {},
        }
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Path(app): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<MessageAttemptOut>)> {
    let a = app_account(&state, &caller, &app).await?;
    let m = object(body)?;
    let text = |k: &str, required: bool| -> ApiResult<Option<String>> {
        match m.get(k) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None | Some(Value::Null) if !required => Ok(None),
            _ => Err(ApiError::bad_request(
                "validation",
                format!("'{k}' must be a string."),
            )),
        }
    };
    let int = |k: &str, range: std::ops::RangeInclusive<i64>| -> ApiResult<i64> {
        match m.get(k).and_then(Value::as_i64) {
            Some(n) if range.contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "validation",
                format!(
                    "'{k}' must be a whole number from {} to {}.",
                    range.start(),
                    range.end()
                ),
            )),
        }
    };
    let msg_id = text("msgId", true)?.unwrap_or_default();
    let url = text("url", true)?.unwrap_or_default();
    if url.is_empty() || url.len() > 2048 {
        return Err(ApiError::bad_request(
            "validation",
            "'url' must be the URL the event was forwarded to (at most 2048 bytes).",
        ));
    }
    let status_code = int("statusCode", 0..=999)?;
    let duration_ms = int("durationMs", 0..=86_400_000)?;
    let response = cut(text("response", false)?.unwrap_or_default(), MAX_RESPONSE);
    let e = listen_endpoint(&state, &a).await?;
    let attempt = state
        .store
        .record_forwarded(
            a.id,
            Forwarded {
                msg_id,
                endpoint_id: e.id,
                url,
                status_code,
                response,
                duration_ms,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(attempt_out(&attempt))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> QueryMap {
        QueryMap(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn msg(t: &str, channels: &[&str]) -> Message {
        Message {
            id: "msg_1".into(),
            account_id: 1,
            event_type: t.into(),
            event_id: None,
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            payload: "{}".into(),
            created_at: String::new(),
            seq: 1,
            tags: Vec::new(),
        }
    }

    #[test]
    fn filters_by_type_and_dataset() {
        let all = StreamFilter::from_query(&q(&[]));
        assert!(all.wants(&msg("sample.created", &["a/b"])));
        let f = StreamFilter::from_query(&q(&[
            ("event_types", "sample.created, label.updated"),
            ("channel", "jane/flowers"),
        ]));
        assert!(f.wants(&msg("label.updated", &["jane/flowers"])));
        assert!(!f.wants(&msg("sample.deleted", &["jane/flowers"])));
        assert!(!f.wants(&msg("sample.created", &["jane/cats"])));
        assert!(!f.wants(&msg("sample.created", &[])));
        let blank = StreamFilter::from_query(&q(&[("event_types", " , ")]));
        assert_eq!(blank.event_types, None);
    }

    #[test]
    fn resumes_from_last_event_id_then_after() {
        let mut h = HeaderMap::new();
        assert_eq!(resume_from(&h, &q(&[])).ok(), Some(None));
        assert_eq!(resume_from(&h, &q(&[("after", "7")])).ok(), Some(Some(7)));
        h.insert("last-event-id", "42".parse().unwrap());
        assert_eq!(resume_from(&h, &q(&[("after", "7")])).ok(), Some(Some(42)));
        h.insert("last-event-id", "x".parse().unwrap());
        assert!(resume_from(&h, &q(&[])).is_err());
        assert!(resume_from(&HeaderMap::new(), &q(&[("after", "-1")])).is_err());
    }

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(cut("héllo".into(), 2), "h");
        assert_eq!(cut("abc".into(), 10), "abc");
    }
}
