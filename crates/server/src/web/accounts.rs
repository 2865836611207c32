//! Sign-in and out, and the account page: the accounts a user manages, with Enable/Disable.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect};

use datahooks_store::Account;

use super::page::{render, HtmlError, PageResult, WebForm};
use super::session::{self, Session};
use crate::error::ApiError;
use crate::state::AppState;
use crate::svix::{managed_account, may_manage};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    title: &'a str,
    error: Option<&'a str>,
    /// Whether any user exists: the hint says where a key comes from in either case.
    has_users: bool,
    signed_in: bool,
    csrf: &'a str,
}

/// The sign-in form.
pub async fn login_page(State(state): State<AppState>) -> PageResult {
    let has_users = state.store.count_users().await? > 0;
    Ok(render(&LoginPage {
        title: "Sign in",
        error: None,
        has_users,
        signed_in: false,
        csrf: "",
    }))
}

/// Checks the API key and starts a session.
pub async fn login(State(state): State<AppState>, form: WebForm) -> PageResult {
    let has_users = state.store.count_users().await? > 0;
    let fail = |msg: &str| {
        let page = LoginPage {
            title: "Sign in",
            error: Some(msg),
            has_users,
            signed_in: false,
            csrf: "",
        };
        Ok((StatusCode::UNAUTHORIZED, render(&page)).into_response())
    };
    if !form.same_origin() {
        return fail("This sign-in did not come from this site.");
    }
    let Some(key) = form.get("api_key") else {
        return fail("Enter your API key.");
    };
    let Some((user, value)) = session::open(&state, key).await? else {
        return fail("That API key is not valid.");
    };
    tracing::info!(user = %user.name, "signed in to the web pages");
    let cookie = session::set_cookie(Some(&value), secure(&state));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/ui/")).into_response())
}

/// Whether cookies must be `Secure` (the public URL is https).
pub(crate) fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// Ends the session, server-side: the cookie is worthless afterwards, even if replayed.
pub async fn logout(State(state): State<AppState>, session: Session, form: WebForm) -> PageResult {
    form.check_origin(&session)?;
    state.store.end_web_session(&session.token).await?;
    Ok((
        [(
            header::SET_COOKIE,
            session::set_cookie(None, secure(&state)),
        )],
        Redirect::to("/ui/login"),
    )
        .into_response())
}

/// One account on the account page.
pub struct AccountRow {
    /// Name.
    pub name: String,
    /// "user" or "organization".
    pub kind: &'static str,
    /// Webhooks on.
    pub enabled: bool,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage<'a> {
    title: &'a str,
    user: &'a str,
    accounts: Vec<AccountRow>,
    signed_in: bool,
    csrf: &'a str,
}

/// The account page.
pub async fn index(State(state): State<AppState>, session: Session) -> PageResult {
    // An app portal session has one account: its page is the start page.
    if let Some(id) = session.portal_account {
        let a = state
            .store
            .managed_accounts(session.user.id)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(HtmlError::SignIn)?;
        return Ok(Redirect::to(&format!("/ui/accounts/{}/webhooks", a.name)).into_response());
    }
    let accounts = state
        .store
        .managed_accounts(session.user.id)
        .await?
        .into_iter()
        .map(|a| AccountRow {
            kind: if a.is_org { "organization" } else { "user" },
            enabled: a.webhooks_enabled,
            name: a.name,
        })
        .collect();
    Ok(render(&AccountsPage {
        title: "Your accounts",
        user: &session.user.name,
        accounts,
        signed_in: true,
        csrf: &session.csrf,
    }))
}

/// The account named in a page URL, if the signed-in user manages it (404 otherwise).
pub async fn account(
    state: &AppState,
    session: &Session,
    name: &str,
) -> Result<Account, HtmlError> {
    let caller = crate::extract::Caller(session.user.clone());
    let a = managed_account(state, &caller, name).await?;
    // An app portal session sees its one account only.
    if session.portal_account.is_some_and(|id| id != a.id) {
        return Err(ApiError::not_found().into());
    }
    if !may_manage(state, &session.user, &a).await? {
        return Err(ApiError::not_found().into());
    }
    Ok(a)
}

/// Enable or Disable.
pub async fn toggle_webhooks(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    form: WebForm,
) -> PageResult {
    form.check(&session)?;
    let a = account(&state, &session, &name).await?;
    let enable = form.get("action") == Some("enable");
    state.store.set_webhooks_enabled(a.id, enable).await?;
    let to = if enable {
        format!("/ui/accounts/{name}/webhooks")
    } else {
        "/ui/".to_owned()
    };
    Ok(Redirect::to(&to).into_response())
}
