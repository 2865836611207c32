//! The message log (newest first, filtered, paginated) and a message's page: its payload,
//! every attempt, and Resend per endpoint.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use datahooks_domain::events::EventType;
use datahooks_store::webhooks::{DeliveryStatus, ListFilter};

use super::accounts::account;
use super::page::{render, when, Opt, PageResult, WebForm};
use super::session::Session;
use crate::state::AppState;
use crate::svix::time_ms;

/// Filters of the log, from the query string.
#[derive(Debug, Deserialize, Default)]
pub struct LogQuery {
    /// Event type.
    pub event_type: Option<String>,
    /// 0 success, 1 pending, 2 fail, 3 sending.
    pub status: Option<String>,
    /// Endpoint id.
    pub endpoint: Option<String>,
    /// Dataset (`name` or `owner/name`).
    pub dataset: Option<String>,
    /// Created after (`datetime-local` or RFC 3339).
    pub since: Option<String>,
    /// Created before.
    pub until: Option<String>,
    /// Page cursor.
    pub iterator: Option<String>,
    /// Just the table rows (for the live refresh script).
    pub partial: Option<String>,
}

/// One row of the log.
pub struct MessageRow {
    /// Id.
    pub id: String,
    /// Type.
    pub event_type: String,
    /// Dataset.
    pub dataset: String,
    /// When.
    pub created_at: String,
    /// Summary.
    pub text: String,
    /// Delivery state across endpoints.
    pub status: String,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct LogPage<'a> {
    title: &'a str,
    account: &'a str,
    rows: Vec<MessageRow>,
    next: Option<String>,
    type_options: Vec<Opt>,
    status_options: Vec<Opt>,
    endpoint_options: Vec<Opt>,
    dataset: String,
    since: String,
    until: String,
    query: String,
    error: Option<String>,
    signed_in: bool,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "message_rows.html")]
struct Rows<'a> {
    account: &'a str,
    rows: Vec<MessageRow>,
}

fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn time_param(s: Option<&str>, field: &str) -> Result<Option<i64>, String> {
    match s {
        None => Ok(None),
        Some(v) => {
            let v = if v.len() == 16 {
                format!("{v}:00Z")
            } else if v.len() == 19 {
                format!("{v}Z")
            } else {
                v.to_owned()
            };
            time_ms(&v, field)
                .map(Some)
                .map_err(|_| format!("'{field}' must be a date and time."))
        }
    }
}

/// The log.
pub async fn log(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Query(q): Query<LogQuery>,
) -> PageResult {
    let a = account(&state, &session, &name).await?;
    let mut error = None;
    let status = match opt(&q.status) {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(n @ 0..=4) => Some(n),
            _ => {
                error = Some("Unknown status.".to_owned());
                None
            }
        },
    };
    let since = time_param(opt(&q.since), "since").unwrap_or_else(|e| {
        error = Some(e);
        None
    });
    let until = time_param(opt(&q.until), "until").unwrap_or_else(|e| {
        error = Some(e);
        None
    });
    let limit = 50;
    let f = ListFilter {
        limit: limit + 1,
        iterator: opt(&q.iterator).map(str::to_owned),
        event_types: opt(&q.event_type)
            .map(|t| vec![t.to_owned()])
            .unwrap_or_default(),
        channel: opt(&q.dataset).map(|d| {
            if d.contains('/') {
                d.to_owned()
            } else {
                format!("{}/{d}", a.name)
            }
        }),
        status,
        endpoint_id: opt(&q.endpoint).map(str::to_owned),
        before: until,
        after: since,
        tag: None,
    };
    let msgs = state.store.list_messages(a.id, &f).await?;
    let next = (msgs.len() as i64 > limit).then(|| msgs[limit as usize - 1].seq.to_string());
    let mut rows = Vec::new();
    for m in msgs.iter().take(limit as usize) {
        let payload: serde_json::Value = serde_json::from_str(&m.payload).unwrap_or_default();
        let deliveries = state.store.message_deliveries(a.id, &m.id).await?;
        let status = if deliveries.is_empty() {
            "no endpoint".to_owned()
        } else {
            let mut parts: Vec<String> = Vec::new();
            for st in ["success", "pending", "sending", "fail", "canceled"] {
                let n = deliveries.iter().filter(|d| d.status.text() == st).count();
                if n > 0 {
                    parts.push(format!("{n} {st}"));
                }
            }
            // The soonest retry of the pending ones.
            let soonest = deliveries
                .iter()
                .filter(|d| d.status == DeliveryStatus::Pending)
                .filter_map(|d| d.next_attempt)
                .min();
            if let Some(t) = next_retry(DeliveryStatus::Pending, soonest) {
                parts.push(format!("next attempt {t}"));
            }
            parts.join(", ")
        };
        rows.push(MessageRow {
            id: m.id.clone(),
            event_type: m.event_type.clone(),
            dataset: m.channels.first().cloned().unwrap_or_default(),
            created_at: when(&m.created_at),
            text: payload["text"].as_str().unwrap_or("").to_owned(),
            status,
        });
    }
    if q.partial.is_some() {
        return Ok(render(&Rows {
            account: &a.name,
            rows,
        }));
    }
    let endpoints = state
        .store
        .list_endpoints(a.id, 250, None)
        .await?
        .into_iter()
        .map(|e| (e.id, e.url))
        .collect();
    let mut types = vec![(String::new(), "any event".to_owned())];
    types.extend(
        EventType::ALL
            .iter()
            .map(|t| (t.as_str().to_owned(), t.as_str().to_owned())),
    );
    let statuses = [
        ("", "any status"),
        ("0", "succeeded"),
        ("1", "pending"),
        ("3", "sending"),
        ("2", "failed"),
        ("4", "canceled"),
    ]
    .iter()
    .map(|(v, l)| (v.to_string(), l.to_string()))
    .collect();
    let mut eps = vec![(String::new(), "any endpoint".to_owned())];
    eps.extend::<Vec<(String, String)>>(endpoints);
    // The filters, to carry over to the next page.
    let mut query = String::new();
    for (k, v) in [
        ("event_type", &q.event_type),
        ("status", &q.status),
        ("endpoint", &q.endpoint),
        ("dataset", &q.dataset),
        ("since", &q.since),
        ("until", &q.until),
    ] {
        if let Some(v) = opt(v) {
            query.push_str(&format!("&{k}={}", urlencode(v)));
        }
    }
    let page = LogPage {
        title: "Message log",
        account: &a.name,
        rows,
        next,
        type_options: Opt::list(types, opt(&q.event_type)),
        status_options: Opt::list(statuses, opt(&q.status)),
        endpoint_options: Opt::list(eps, opt(&q.endpoint)),
        dataset: opt(&q.dataset).unwrap_or("").to_owned(),
        since: opt(&q.since).unwrap_or("").to_owned(),
        until: opt(&q.until).unwrap_or("").to_owned(),
        query,
        error,
        signed_in: true,
        csrf: &session.csrf,
    };
    Ok(render(&page))
}

/// An attempt on a message's page.
pub struct AttemptView {
    /// Endpoint id.
    pub endpoint_id: String,
    /// When.
    pub timestamp: String,
    /// HTTP status or "–".
    pub code: String,
    /// succeeded / failed.
    pub outcome: &'static str,
    /// Duration.
    pub duration_ms: i64,
    /// Response body or error.
    pub response: String,
    /// manual / scheduled.
    pub trigger: &'static str,
}

/// A message's state at an endpoint.
pub struct TargetView {
    /// Endpoint id.
    pub endpoint_id: String,
    /// URL.
    pub url: String,
    /// Status text.
    pub status: String,
    /// When a pending delivery is tried next, readable.
    pub next_retry: Option<String>,
}

/// A pending delivery's next attempt time, as the pages write times.
fn next_retry(status: DeliveryStatus, next_ms: Option<i64>) -> Option<String> {
    if status != DeliveryStatus::Pending {
        return None;
    }
    next_ms
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    account: &'a str,
    id: String,
    event_type: String,
    created_at: String,
    payload: String,
    targets: Vec<TargetView>,
    attempts: Vec<AttemptView>,
    notice: Option<String>,
    signed_in: bool,
    csrf: &'a str,
}

/// Query of the message page.
#[derive(Debug, Deserialize, Default)]
pub struct MessageQuery {
    /// Set after a resend.
    pub resent: Option<String>,
}

/// A message's page.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((name, msg)): Path<(String, String)>,
    Query(q): Query<MessageQuery>,
) -> PageResult {
    let a = account(&state, &session, &name).await?;
    let m = state.store.get_message(a.id, &msg).await?;
    let payload = serde_json::from_str::<serde_json::Value>(&m.payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(m.payload.clone());
    let mut targets = Vec::new();
    for d in state.store.message_deliveries(a.id, &m.id).await? {
        let url = state
            .store
            .get_endpoint(a.id, &d.endpoint_id)
            .await
            .map(|e| e.url)
            .unwrap_or_else(|_| "(deleted)".into());
        targets.push(TargetView {
            endpoint_id: d.endpoint_id,
            url,
            status: d.status.text().to_owned(),
            next_retry: next_retry(d.status, d.next_attempt),
        });
    }
    let f = ListFilter {
        limit: 250,
        ..Default::default()
    };
    let attempts = state
        .store
        .list_attempts(a.id, Some(&m.id), &f)
        .await?
        .into_iter()
        .map(|x| AttemptView {
            endpoint_id: x.endpoint_id,
            timestamp: when(&x.timestamp),
            code: if x.response_status_code == 0 {
                "–".into()
            } else {
                x.response_status_code.to_string()
            },
            outcome: if x.status == 0 { "succeeded" } else { "failed" },
            duration_ms: x.duration_ms,
            response: x.response,
            trigger: if x.trigger_type == 1 {
                "manual"
            } else {
                "scheduled"
            },
        })
        .collect();
    let page = MessagePage {
        title: "Message",
        account: &a.name,
        id: m.id.clone(),
        event_type: m.event_type.clone(),
        created_at: when(&m.created_at),
        payload,
        targets,
        attempts,
        notice: q
            .resent
            .map(|_| "Resend queued: it runs once, now.".to_owned()),
        signed_in: true,
        csrf: &session.csrf,
    };
    Ok(render(&page))
}

/// Resend to one endpoint.
pub async fn resend(
    State(state): State<AppState>,
    session: Session,
    Path((name, msg)): Path<(String, String)>,
    form: WebForm,
) -> PageResult {
    form.check(&session)?;
    let a = account(&state, &session, &name).await?;
    let ep = form.get("endpoint").unwrap_or("");
    state.store.resend(a.id, &msg, ep).await?;
    Ok(Redirect::to(&format!("/ui/accounts/{}/messages/{msg}?resent=1", a.name)).into_response())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
