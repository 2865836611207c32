//! First-run setup: the page behind the one-time link `datahooks serve` prints on its console
//! while the server has no users. It creates the first user and shows its API key once.
//!
//! The token in the URL is the only credential (there is no session yet): 256 random bits,
//! kept as a hash in the store, good for one user within an hour, and refused by every node
//! as soon as any user exists (see `datahooks_store::SetupStore`). The pages are sent with
//! `no-store` and `Referrer-Policy: same-origin`, so that neither the link nor the key lingers
//! in a cache or leaks to another site (`no-referrer` would also blank the `Origin` of the
//! form's own post, which the same-site check needs).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use datahooks_domain::setup::SetupRefusal;

use super::page::{render, PageResult, WebForm};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    title: &'a str,
    error: Option<&'a str>,
    name: &'a str,
    email: &'a str,
    signed_in: bool,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "setup_done.html")]
struct DonePage<'a> {
    title: &'a str,
    user: &'a str,
    key: &'a str,
    signed_in: bool,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "setup_refused.html")]
struct RefusedPage<'a> {
    title: &'a str,
    detail: &'a str,
    signed_in: bool,
    csrf: &'a str,
}

/// Adds the headers every setup page carries.
fn private(status: StatusCode, page: Response) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        page,
    )
        .into_response()
}

fn refused(r: SetupRefusal) -> Response {
    let e = ApiError::from(r);
    let page = RefusedPage {
        title: "Setup link refused",
        detail: &e.detail,
        signed_in: false,
        csrf: "",
    };
    private(e.status, render(&page))
}

fn form(status: StatusCode, error: Option<&str>, name: &str, email: &str) -> Response {
    let page = SetupPage {
        title: "Create the first user",
        error,
        name,
        email,
        signed_in: false,
        csrf: "",
    };
    private(status, render(&page))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The form, or why the link no longer works.
pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> PageResult {
    Ok(
        match state.store.check_setup_link(&token, now_ms()).await? {
            Ok(()) => form(StatusCode::OK, None, "", ""),
            Err(r) => refused(r),
        },
    )
}

/// Creates the first user and shows its key, once.
pub async fn create(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form_data: WebForm,
) -> PageResult {
    let name = form_data.get("name").unwrap_or("");
    let email = form_data.get("email");
    if !form_data.same_origin() {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "This form did not come from this site.",
        );
        return Ok(form(e.status, Some(&e.detail), name, email.unwrap_or("")));
    }
    let outcome = state
        .store
        .redeem_setup_link(&token, now_ms(), name, email)
        .await;
    match outcome {
        Ok(Ok((user, key))) => {
            tracing::info!(user = %user.name, "first user created with the setup link");
            let page = DonePage {
                title: "First user created",
                user: &user.name,
                key: &key.key,
                signed_in: false,
                csrf: "",
            };
            Ok(private(StatusCode::OK, render(&page)))
        }
        Ok(Err(r)) => Ok(refused(r)),
        // A bad or taken name: the form again, with what to fix.
        Err(datahooks_store::Error::Domain(d)) => {
            let e = ApiError::from(d);
            Ok(form(e.status, Some(&e.detail), name, email.unwrap_or("")))
        }
        Err(other) => Err(other.into()),
    }
}
