//! App portal sign-in: the page behind a link made by `authentication.app_portal_access`
//! (see `crate::svix::auth`). Opening it starts an ordinary web session (see
//! [`super::session`]) limited to the one account the link names, ending with the link at the
//! latest; `logout` or `expire-all` on the API end it on every node.
//!
//! The token in the URL is the credential, so the page is sent with `no-store` and
//! `Referrer-Policy: same-origin`. It answers with a page that moves on to Manage webhooks by
//! itself rather than a redirect: the session cookie is `SameSite=Strict`, and a browser that
//! followed the link from another site would not send it along a redirect of that navigation.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use datahooks_store::NewWebSession;

use super::page::{render, PageResult};
use super::session::{self, random_hex};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage<'a> {
    title: &'a str,
    account: &'a str,
    to: &'a str,
    signed_in: bool,
    csrf: &'a str,
}

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "portal_link_gone",
        "This sign-in link has expired or was ended. Ask the service that gave it for a new one.",
    )
}

/// Opens the link: a session for its account, then on to that account's page.
pub async fn open(State(state): State<AppState>, Path(link): Path<String>) -> PageResult {
    let (token, csrf) = (random_hex(), random_hex());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let cookie = session::encode(&state.config.secret_key, &token).ok_or_else(gone)?;
    let new = NewWebSession {
        token: &token,
        csrf: &csrf,
        now_ms,
        expires_ms: now_ms + session::TTL_SECS * 1000,
    };
    let Some(signed_in) = state.store.open_portal_session(&link, new).await? else {
        return Err(gone().into());
    };
    let account = state
        .store
        .managed_accounts(signed_in.user.id)
        .await?
        .into_iter()
        .find(|a| a.id == signed_in.account_id)
        .ok_or_else(gone)?;
    tracing::info!(account = %account.name, user = %signed_in.user.name, "app portal link opened");
    let to = format!("/ui/accounts/{}/webhooks", account.name);
    let page = render(&PortalPage {
        title: "Signed in",
        account: &account.name,
        to: &to,
        signed_in: true,
        csrf: &csrf,
    });
    Ok((
        [
            (
                header::SET_COOKIE,
                session::set_cookie(Some(&cookie), super::accounts::secure(&state)),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::REFERRER_POLICY, "same-origin".to_owned()),
        ],
        page,
    )
        .into_response())
}
