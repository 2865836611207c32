//! "Manage webhooks": server-rendered pages under `/ui/`, plain HTML forms that work without
//! JavaScript, one stylesheet and a little script of our own. Every action goes through the
//! same store methods and rules as the API.

pub mod accounts;
pub mod chart;
pub mod endpoints;
pub mod messages;
pub mod operational;
pub mod page;
pub mod portal;
pub mod session;
pub mod setup;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

const STYLE: &str = include_str!("../../static/style.css");
const SCRIPT: &str = include_str!("../../static/app.js");

/// The pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(accounts::index))
        .route("/ui/", get(accounts::index))
        .route("/ui/login", get(accounts::login_page).post(accounts::login))
        .route("/ui/logout", post(accounts::logout))
        .route("/ui/setup/{token}", get(setup::show).post(setup::create))
        .route("/ui/portal/{token}", get(portal::open))
        .route(
            "/ui/accounts/{account}/webhooks",
            get(endpoints::manage).post(accounts::toggle_webhooks),
        )
        .route("/ui/accounts/{account}/endpoints", post(endpoints::create))
        .route(
            "/ui/accounts/{account}/endpoints/{ep}",
            get(endpoints::show).post(endpoints::act),
        )
        .route("/ui/accounts/{account}/messages", get(messages::log))
        .route(
            "/ui/accounts/{account}/operational",
            post(operational::create),
        )
        .route(
            "/ui/accounts/{account}/operational/{ep}",
            post(operational::remove),
        )
        .route(
            "/ui/accounts/{account}/messages/{msg}",
            get(messages::show).post(messages::resend),
        )
        .route(
            "/ui/static/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLE).into_response() }),
        )
        .route(
            "/ui/static/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], SCRIPT).into_response() }),
        )
}
