//! The Operational webhooks section of the Manage webhooks page: an account's operational
//! endpoints (see `crate::svix::operational`), added and removed by its managers.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use serde_json::{json, Map, Value};

use datahooks_domain::operational::OpEventType;
use datahooks_store::Account;

use super::accounts::account;
use super::page::{HtmlError, PageResult, WebForm};
use super::session::Session;
use crate::state::AppState;
use crate::svix::endpoints::open_secret;
use crate::svix::operational::create_for;

/// One operational endpoint as the section lists it.
pub struct OpRow {
    /// Id.
    pub id: String,
    /// URL.
    pub url: String,
    /// Description.
    pub description: String,
    /// The event types it gets, or "all".
    pub events: String,
    /// Its signing secret (`whsec_…`), to verify what it receives.
    pub secret: String,
}

/// The operational endpoints of an account, oldest first.
pub async fn rows(state: &AppState, a: &Account) -> Result<Vec<OpRow>, HtmlError> {
    let mut out = Vec::new();
    for e in state.store.list_op_endpoints(a.id, 250, None).await? {
        out.push(OpRow {
            secret: open_secret(state, &e.secret)?.to_whsec(),
            events: match &e.event_types {
                None => "all".to_owned(),
                Some(l) => l.join(", "),
            },
            id: e.id,
            url: e.url,
            description: e.description,
        });
    }
    Ok(out)
}

/// The operational event types, for the form's checkboxes.
pub fn types() -> Vec<&'static str> {
    OpEventType::ALL.iter().map(|t| t.as_str()).collect()
}

fn back(a: &Account) -> PageResult {
    Ok(Redirect::to(&format!("/ui/accounts/{}/webhooks#operational", a.name)).into_response())
}

/// Add operational endpoint: the same rules as the API (a bad URL or destination is a 4xx
/// page saying why).
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    form: WebForm,
) -> PageResult {
    form.check(&session)?;
    let a = account(&state, &session, &name).await?;
    let chosen = form.all("op_types");
    let mut body = Map::new();
    body.insert("url".into(), json!(form.get("url").unwrap_or("")));
    body.insert(
        "description".into(),
        json!(form.get("description").unwrap_or("")),
    );
    // None ticked, or every one: all types, including any added later.
    let all = chosen.is_empty() || chosen.len() == OpEventType::ALL.len();
    body.insert(
        "eventTypes".into(),
        if all { Value::Null } else { json!(chosen) },
    );
    create_for(&state, a.id, &body).await?;
    back(&a)
}

/// Remove an operational endpoint.
pub async fn remove(
    State(state): State<AppState>,
    session: Session,
    Path((name, ep)): Path<(String, String)>,
    form: WebForm,
) -> PageResult {
    form.check(&session)?;
    let a = account(&state, &session, &name).await?;
    state.store.delete_op_endpoint(a.id, &ep).await?;
    back(&a)
}
