//! Manage webhooks: the endpoints table, Add endpoint, and each endpoint's page (edit,
//! disable/enable, delete, secret, headers, test event, recover, its deliveries).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde_json::{json, Map, Value};

use datahooks_domain::events::EventType;
use datahooks_store::stream::LISTEN_REASON;
use datahooks_store::webhooks::{Endpoint, EndpointInput, ListFilter, NewMessage};
use datahooks_store::Account;
use datahooks_webhooks::endpoint as rules;
use datahooks_webhooks::signing::Secret;

use super::accounts::account;
use super::chart;
use super::page::{render, when, HtmlError, PageResult, WebForm};
use super::session::Session;
use crate::state::AppState;

/// One event type checkbox.
pub struct EventBox {
    /// Wire name.
    pub name: &'static str,
    /// Checked.
    pub checked: bool,
}

/// Checkboxes grouped by object (dataset, sample, …).
pub struct EventGroup {
    /// Object kind.
    pub kind: &'static str,
    /// Its event types.
    pub boxes: Vec<EventBox>,
}

fn groups(selected: Option<&[String]>) -> Vec<EventGroup> {
    let mut out: Vec<EventGroup> = Vec::new();
    for t in EventType::ALL {
        let checked = selected.is_none_or(|s| s.iter().any(|x| x == t.as_str()));
        let b = EventBox {
            name: t.as_str(),
            checked,
        };
        match out.iter_mut().find(|g| g.kind == t.object_kind()) {
            Some(g) => g.boxes.push(b),
            None => out.push(EventGroup {
                kind: t.object_kind(),
                boxes: vec![b],
            }),
        }
    }
    out
}

/// The values of the endpoint form, to show back.
#[derive(Default)]
pub struct EndpointForm {
    /// URL.
    pub url: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Datasets, comma-separated.
    pub datasets: String,
    /// Checkboxes.
    pub groups: Vec<EventGroup>,
    /// The error to show, if any.
    pub error: Option<String>,
}

impl EndpointForm {
    fn blank() -> Self {
        EndpointForm {
            version: "1".into(),
            groups: groups(None),
            ..Default::default()
        }
    }

    fn of(e: &Endpoint, account: &str) -> Self {
        let datasets = e
            .channels
            .as_ref()
            .map(|c| {
                c.iter()
                    .map(|d| {
                        d.strip_prefix(&format!("{account}/"))
                            .unwrap_or(d)
                            .to_owned()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        EndpointForm {
            url: e.url.clone(),
            version: e.version.to_string(),
            description: e.description.clone(),
            datasets,
            groups: groups(e.event_types.as_deref()),
            error: None,
        }
    }

    /// Reads the form into an API-shaped body and checks it with the endpoint rules.
    fn read(
        form: &WebForm,
        state: &AppState,
        account: &str,
        base: Option<&Endpoint>,
    ) -> (Self, Result<EndpointInput, String>) {
        let chosen = form.all("event_types");
        let shown = EndpointForm {
            url: form.get("url").unwrap_or("").to_owned(),
            version: form.get("version").unwrap_or("1").to_owned(),
            description: form.get("description").unwrap_or("").to_owned(),
            datasets: form.get("datasets").unwrap_or("").to_owned(),
            groups: groups(Some(&chosen)),
            error: None,
        };
        let mut body = Map::new();
        body.insert("url".into(), json!(shown.url));
        body.insert("description".into(), json!(shown.description));
        match shown.version.parse::<i64>() {
            Ok(v) => body.insert("version".into(), json!(v)),
            Err(_) => {
                return (
                    shown,
                    Err("The version must be a whole number, like 1.".into()),
                )
            }
        };
        // Custom event types (set through the API) are not on the form: an edit keeps them.
        let kept: Vec<String> = base
            .and_then(|e| e.event_types.as_ref())
            .map(|ts| {
                ts.iter()
                    .filter(|t| !datahooks_domain::event_types::is_platform(t))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if chosen.is_empty() && kept.is_empty() {
            return (shown, Err("Choose at least one event type.".into()));
        }
        let all = kept.is_empty()
            && EventType::ALL
                .iter()
                .all(|t| chosen.iter().any(|c| c == t.as_str()));
        let types: Vec<&String> = chosen.iter().chain(&kept).collect();
        body.insert(
            "eventTypes".into(),
            if all { Value::Null } else { json!(types) },
        );
        let datasets: Vec<String> = shown
            .datasets
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                if d.contains('/') {
                    d.to_owned()
                } else {
                    format!("{account}/{d}")
                }
            })
            .collect();
        body.insert(
            "channels".into(),
            if datasets.is_empty() {
                Value::Null
            } else {
                json!(datasets)
            },
        );
        let parsed = rules::parse_with_types(&body, account, &state.hooks.policy, base, &kept)
            .map_err(|e| e.to_string());
        (shown, parsed)
    }
}

/// A parsed form, with the URL's name resolved: one that resolves only to forbidden
/// addresses is refused, as in the API.
async fn resolved(
    state: &AppState,
    parsed: Result<EndpointInput, String>,
) -> Result<EndpointInput, String> {
    let input = parsed?;
    rules::check_resolved(&state.hooks.policy, &input.url)
        .await
        .map_err(|e| e.to_string())?;
    Ok(input)
}

/// One row of the endpoints table.
pub struct EndpointRow {
    /// Id.
    pub id: String,
    /// URL.
    pub url: String,
    /// Description.
    pub description: String,
    /// Version.
    pub version: i64,
    /// Subscribed events, readable.
    pub events: String,
    /// Enabled, or disabled and why.
    pub status: String,
    /// Whether enabled.
    pub enabled: bool,
    /// Success rate of the last attempts.
    pub success_rate: String,
    /// Time of the last attempt.
    pub last_delivery: String,
    /// The delivery pace, in words: "open", "paused by the receiver until …", "down, …".
    pub pace: String,
    /// The pace's state name (`open`, `paused`, `down`, `probing`).
    pub pace_state: &'static str,
    /// Deliveries it may have in flight.
    pub pace_limit: i64,
    /// Deliveries per second, recently (and the rate learned from 429s, if any).
    pub pace_rate: String,
}

async fn row(state: &AppState, a: &Account, e: &Endpoint) -> Result<EndpointRow, HtmlError> {
    let f = ListFilter {
        limit: 50,
        endpoint_id: Some(e.id.clone()),
        ..Default::default()
    };
    let attempts = state.store.list_attempts(a.id, None, &f).await?;
    let ok = attempts.iter().filter(|x| x.status == 0).count();
    let record = state.store.endpoint_pace(a.id, &e.id).await?;
    let p =
        datahooks_webhooks::paced::shown(record.as_ref(), chrono::Utc::now().timestamp_millis());
    let at = |t: Option<i64>| {
        t.map(crate::svix::ms_time)
            .map(|t| when(&t))
            .unwrap_or_default()
    };
    let pace = match p.state {
        "paused" => format!("paused by the receiver until {}", at(p.until)),
        "down" => format!("down: one delivery probes it at {}", at(p.until)),
        "probing" => "down: one delivery is probing it".to_owned(),
        _ => "open".to_owned(),
    };
    let mut pace_rate = format!("{:.1}/s", p.recent_rate);
    if let Some(cap) = p.rate_cap {
        pace_rate.push_str(&format!(" (receiver allows about {cap:.1}/s)"));
    }
    Ok(EndpointRow {
        pace,
        pace_state: p.state,
        pace_limit: p.limit,
        pace_rate,
        id: e.id.clone(),
        url: e.url.clone(),
        description: e.description.clone(),
        version: e.version,
        events: e
            .event_types
            .as_ref()
            .map(|t| t.join(", "))
            .unwrap_or_else(|| "all events".into()),
        status: status_text(e),
        enabled: !e.disabled,
        success_rate: if attempts.is_empty() {
            "–".into()
        } else {
            format!("{}% of last {}", ok * 100 / attempts.len(), attempts.len())
        },
        last_delivery: attempts
            .first()
            .map(|x| when(&x.timestamp))
            .unwrap_or_else(|| "never".into()),
    })
}

fn status_text(e: &Endpoint) -> String {
    match (e.disabled, e.disabled_reason.as_deref()) {
        (false, _) => "enabled".into(),
        (true, Some("gone")) => "disabled: the receiver answered 410 Gone".into(),
        (true, Some("failing")) => "disabled: failing for 5 days".into(),
        (true, Some("listen")) => "datahooks listen: forwarded by the CLI".into(),
        (true, _) => "disabled by hand".into(),
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct ManagePage<'a> {
    title: &'a str,
    account: &'a str,
    enabled: bool,
    endpoints: Vec<EndpointRow>,
    volume_chart: String,
    form: EndpointForm,
    signed_in: bool,
    csrf: &'a str,
    /// The Operational webhooks section (see `super::operational`).
    operational: Vec<super::operational::OpRow>,
    op_types: Vec<&'static str>,
}

async fn manage_page(
    state: &AppState,
    session: &Session,
    a: &Account,
    form: EndpointForm,
    status: StatusCode,
) -> PageResult {
    let mut endpoints = Vec::new();
    let mut volume_chart = String::new();
    if a.webhooks_enabled {
        for e in state.store.list_endpoints(a.id, 250, None).await? {
            endpoints.push(row(state, a, &e).await?);
        }
        let start = chart::start_hour(chrono::Utc::now().timestamp_millis());
        let counts = state.store.account_hourly(a.id, start).await?;
        volume_chart = chart::attempts_chart(
            "volume-chart",
            &format!("Deliveries per hour for {}", a.name),
            start,
            &chart::fill_counts(start, &counts),
        );
    }
    let page = ManagePage {
        volume_chart,
        title: "Manage webhooks",
        account: &a.name,
        enabled: a.webhooks_enabled,
        endpoints,
        form,
        signed_in: true,
        csrf: &session.csrf,
        operational: super::operational::rows(state, a).await?,
        op_types: super::operational::types(),
    };
    Ok((status, render(&page)).into_response())
}

/// The Manage webhooks page.
pub async fn manage(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> PageResult {
    let a = account(&state, &session, &name).await?;
    manage_page(&state, &session, &a, EndpointForm::blank(), StatusCode::OK).await
}

/// Add endpoint.
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    form: WebForm,
) -> PageResult {
    form.check(&session)?;
    let a = account(&state, &session, &name).await?;
    if !a.webhooks_enabled {
        return Err(crate::error::ApiError::bad_request(
            "webhooks_disabled",
            "Enable webhooks for this account first.",
        )
        .into());
    }
    let (mut shown, parsed) = EndpointForm::read(&form, &state, &a.name, None);
    match resolved(&state, parsed).await {
        Ok(input) => {
            let e = state
                .store
                .create_endpoint(a.id, input, state.hooks.vault.seal(&Secret::generate()))
                .await?;
            Ok(
                Redirect::to(&format!("/ui/accounts/{}/endpoints/{}", a.name, e.id))
                    .into_response(),
            )
        }
        Err(msg) => {
            shown.error = Some(msg);
            manage_page(&state, &session, &a, shown, StatusCode::BAD_REQUEST).await
        }
    }
}

/// One recent attempt at an endpoint.
pub struct AttemptRow {
    /// Message id.
    pub msg_id: String,
    /// When.
    pub timestamp: String,
    /// HTTP status or "–".
    pub code: String,
    /// succeeded / failed.
    pub outcome: &'static str,
    /// Duration.
    pub duration_ms: i64,
    /// Manual or scheduled.
    pub trigger: &'static str,
}

#[derive(Template)]
#[template(path = "endpoint.html")]
struct EndpointPage<'a> {
    title: &'a str,
    account: &'a str,
    row: EndpointRow,
    form: EndpointForm,
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    headers: String,
    event_types: Vec<&'static str>,
    attempts: Vec<AttemptRow>,
    attempts_chart: String,
    latency_chart: String,
    task: Option<String>,
    signed_in: bool,
    csrf: &'a str,
}

/// Query of the endpoint page.
#[derive(Debug, serde::Deserialize, Default)]
pub struct EndpointQuery {
    /// A background task to show the progress of.
    pub task: Option<String>,
}

/// A message for the endpoint page after an action.
enum Flash {
    /// It worked.
    Notice(String),
    /// It was refused, with why.
    Error(String),
    /// The headers form was refused; the text typed is shown back.
    HeadersError(String, String),
}

#[allow(clippy::too_many_arguments)]
async fn endpoint_page(
    state: &AppState,
    session: &Session,
    a: &Account,
    e: &Endpoint,
    form: Option<EndpointForm>,
    secret: Option<String>,
    flash: Option<Flash>,
    task: Option<String>,
    status: StatusCode,
) -> PageResult {
    let (notice, error, typed_headers) = match flash {
        Some(Flash::Notice(n)) => (Some(n), None, None),
        Some(Flash::Error(e)) => (None, Some(e), None),
        Some(Flash::HeadersError(e, typed)) => (None, Some(e), Some(typed)),
        None => (None, None, None),
    };
    let f = ListFilter {
        limit: 25,
        endpoint_id: Some(e.id.clone()),
        ..Default::default()
    };
    let attempts = state
        .store
        .list_attempts(a.id, None, &f)
        .await?
        .into_iter()
        .map(|x| AttemptRow {
            msg_id: x.msg_id,
            timestamp: when(&x.timestamp),
            code: if x.response_status_code == 0 {
                "–".into()
            } else {
                x.response_status_code.to_string()
            },
            outcome: if x.status == 0 { "succeeded" } else { "failed" },
            duration_ms: x.duration_ms,
            trigger: if x.trigger_type == 1 {
                "manual"
            } else {
                "scheduled"
            },
        })
        .collect();
    let (shown, _) = rules::redact(&e.headers);
    let headers = shown
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n");
    let task = match task {
        Some(id) => crate::svix::tasks::get(state, &id, &[a.id])
            .await?
            .map(|t| {
                format!(
                    "Recover {}: {} message(s) queued again.",
                    t.status, t.data.messages_sent
                )
            }),
        None => None,
    };
    let start = chart::start_hour(chrono::Utc::now().timestamp_millis());
    let counts = state.store.endpoint_hourly(a.id, &e.id, start).await?;
    let durations = state.store.endpoint_durations(a.id, &e.id, start).await?;
    let page = EndpointPage {
        attempts_chart: chart::attempts_chart(
            "attempts-chart",
            &format!("Attempts per hour to {}", e.url),
            start,
            &chart::fill_counts(start, &counts),
        ),
        latency_chart: chart::latency_chart(
            "latency-chart",
            &format!("Latency per hour of {}", e.url),
            start,
            &chart::latency_series(start, &durations),
        ),
        title: "Endpoint",
        account: &a.name,
        row: row(state, a, e).await?,
        form: form.unwrap_or_else(|| EndpointForm::of(e, &a.name)),
        secret,
        notice,
        error,
        headers: typed_headers.unwrap_or(headers),
        event_types: EventType::ALL.iter().map(|t| t.as_str()).collect(),
        attempts,
        task,
        signed_in: true,
        csrf: &session.csrf,
    };
    Ok((status, render(&page)).into_response())
}

/// An endpoint's page (404 for endpoints of accounts the user does not manage).
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((name, ep)): Path<(String, String)>,
    Query(q): Query<EndpointQuery>,
) -> PageResult {
    let a = account(&state, &session, &name).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    endpoint_page(
        &state,
        &session,
        &a,
        &e,
        None,
        None,
        None,
        q.task,
        StatusCode::OK,
    )
    .await
}

/// The endpoint page's forms, told apart by `action`.
pub async fn act(
    State(state): State<AppState>,
    session: Session,
    Path((name, ep)): Path<(String, String)>,
    form: WebForm,
) -> PageResult {
    form.check(&session)?;
    let a = account(&state, &session, &name).await?;
    let e = state.store.get_endpoint(a.id, &ep).await?;
    let here = format!("/ui/accounts/{}/endpoints/{}", a.name, e.id);
    let bad = |msg: String| (Some(Flash::Error(msg)), StatusCode::BAD_REQUEST);
    let (notice, status, secret): (Option<Flash>, StatusCode, Option<String>) = match form
        .get("action")
        .unwrap_or("")
    {
        "edit" => {
            let (mut shown, parsed) = EndpointForm::read(&form, &state, &a.name, Some(&e));
            match resolved(&state, parsed).await {
                Ok(mut input) => {
                    input.disabled = e.disabled;
                    state.store.update_endpoint(a.id, &e.id, input).await?;
                    return Ok(Redirect::to(&here).into_response());
                }
                Err(msg) => {
                    shown.error = Some(msg);
                    return endpoint_page(
                        &state,
                        &session,
                        &a,
                        &e,
                        Some(shown),
                        None,
                        None,
                        None,
                        StatusCode::BAD_REQUEST,
                    )
                    .await;
                }
            }
        }
        "toggle" if e.disabled_reason.as_deref() == Some(LISTEN_REASON) => {
            // Enabled, it would get deliveries the worker cannot send ("listen:" is no URL).
            let (n, s) = bad(
                "The datahooks listen endpoint stays disabled: the CLI forwards its events, the server never sends to it."
                    .into(),
            );
            (n, s, None)
        }
        "toggle" => {
            let mut input = EndpointInput::from(&e);
            input.disabled = !e.disabled;
            state.store.update_endpoint(a.id, &e.id, input).await?;
            return Ok(Redirect::to(&here).into_response());
        }
        "delete" => {
            if form.get("confirm") != Some("yes") {
                let (n, s) = bad("Tick the box to confirm the deletion.".into());
                (n, s, None)
            } else {
                state.store.delete_endpoint(a.id, &e.id).await?;
                return Ok(
                    Redirect::to(&format!("/ui/accounts/{}/webhooks", a.name)).into_response()
                );
            }
        }
        "reveal" => {
            let s = state
                .hooks
                .vault
                .open(&e.secret)
                .map(|s| s.public_text())
                .ok();
            (None, StatusCode::OK, s)
        }
        "rotate" => {
            let new = Secret::generate();
            let expires = chrono::Utc::now().timestamp_millis() + 86_400_000;
            state
                .store
                .rotate_secret(a.id, &e.id, state.hooks.vault.seal(&new), expires)
                .await?;
            (Some(Flash::Notice("Secret rotated. The previous secret stays valid for 24 hours; deliveries carry both signatures meanwhile.".into())), StatusCode::OK, Some(new.to_whsec()))
        }
        "headers" => {
            let text = form.get("headers").unwrap_or("");
            let mut map = Map::new();
            let mut err = None;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                match line.split_once(':') {
                    Some((k, v)) => {
                        map.insert(k.trim().to_owned(), json!(v.trim()));
                    }
                    None => err = Some(format!("{line:?} is not of the form Name: value.")),
                }
            }
            // Keep sensitive values that are shown redacted and were sent back unchanged.
            for (k, v) in &e.headers {
                if map.get(k).and_then(Value::as_str) == Some("<redacted>") {
                    map.insert(k.clone(), v.clone());
                }
            }
            match err.map(Err).unwrap_or_else(|| {
                rules::check_headers(&Value::Object(map)).map_err(|e| e.to_string())
            }) {
                Ok(h) => {
                    state.store.set_endpoint_headers(a.id, &e.id, h).await?;
                    return Ok(Redirect::to(&here).into_response());
                }
                Err(msg) => (
                    Some(Flash::HeadersError(msg, text.to_owned())),
                    StatusCode::BAD_REQUEST,
                    None,
                ),
            }
        }
        "test" => {
            let t = form.get("event_type").unwrap_or("sample.created");
            let payload = crate::svix::event_types::example_payload(t, &a.name)?;
            state
                .store
                .create_message(
                    a.id,
                    NewMessage {
                        event_type: t.to_owned(),
                        event_id: None,
                        channels: Vec::new(),
                        payload: payload.to_string(),
                        only_endpoint: Some(e.id.clone()),
                    },
                )
                .await?;
            (
                Some(Flash::Notice(format!(
                    "A test {t} event was queued for this endpoint."
                ))),
                StatusCode::OK,
                None,
            )
        }
        "recover" => {
            let since = form.get("since").and_then(parse_local_time);
            match since {
                None => {
                    let (n, s) =
                        bad("Give the time to recover from, like 2026-01-31T09:00.".into());
                    (n, s, None)
                }
                Some(since) => {
                    let until = chrono::Utc::now().timestamp_millis() + 1;
                    let rec = crate::svix::tasks::start(
                        &state,
                        a.id,
                        &e.id,
                        crate::svix::tasks::Kind::Recover,
                        since,
                        until,
                    )
                    .await?;
                    let id = rec.id;
                    return Ok(Redirect::to(&format!("{here}?task={id}")).into_response());
                }
            }
        }
        _ => {
            let (n, s) = bad("Unknown action.".into());
            (n, s, None)
        }
    };
    endpoint_page(&state, &session, &a, &e, None, secret, notice, None, status).await
}

/// `datetime-local` input (UTC) or RFC 3339, as unix ms.
fn parse_local_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}
