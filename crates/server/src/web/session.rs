//! Sign-in sessions for the web pages, kept server-side: the cookie (`HttpOnly`,
//! `SameSite=Strict`) carries a random 256-bit token and its MAC ([`crate::mac`]); the store
//! keeps the token's hash, the user, the API key that opened the session, its CSRF token and
//! its expiry. So signing out, revoking that key, or deleting the user ends the session at
//! once, and a cookie copied before sign-out is refused when replayed.
//!
//! The API key itself is never stored in the cookie, a URL or a log: it is checked once at
//! sign-in and only the session token travels afterwards.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use rand::RngCore;

use datahooks_store::{Account, NewWebSession};

use super::page::HtmlError;
use crate::error::ApiError;
use crate::mac::{self, Purpose};
use crate::state::AppState;

/// Cookie name.
pub const COOKIE: &str = "dh_session";
/// How long a session lasts.
pub const TTL_SECS: i64 = 8 * 3600;

/// 256 random bits as hex.
pub fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The cookie value for a session token: `token.mac`.
pub fn encode(key: &[u8], token: &str) -> Option<String> {
    mac::sign(key, Purpose::Session, token).map(|sig| format!("{token}.{sig}"))
}

/// The session token a cookie value carries, if its MAC is ours. A forged or altered cookie
/// is refused here, before the store is asked.
pub fn decode<'a>(key: &[u8], value: &'a str) -> Option<&'a str> {
    let (token, sig) = value.split_once('.')?;
    mac::verify(key, Purpose::Session, token, sig).then_some(token)
}

/// Checks an API key and opens a session bound to it. Returns the user and the cookie value,
/// or `None` when the key is not valid.
pub async fn open(state: &AppState, api_key: &str) -> Result<Option<(Account, String)>, HtmlError> {
    let token = random_hex();
    let csrf = random_hex();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let cookie = encode(&state.config.secret_key, &token).ok_or_else(|| {
        HtmlError::from(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The session could not be signed.",
        ))
    })?;
    let new = NewWebSession {
        token: &token,
        csrf: &csrf,
        now_ms,
        expires_ms: now_ms + TTL_SECS * 1000,
    };
    let user = state.store.open_web_session(api_key, new).await?;
    Ok(user.map(|u| (u, cookie)))
}

/// The `Set-Cookie` value for a session (or for signing out, with `None`).
pub fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => {
            format!("{COOKIE}={v}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={TTL_SECS}{secure}")
        }
        None => format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// A signed-in user; pages that need one redirect to sign-in without it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: Account,
    /// The CSRF token forms must carry.
    pub csrf: String,
    /// The session's token, to end it on sign-out.
    pub token: String,
    /// Opened by an app portal link: the one account it may see (see [`super::portal`]).
    pub portal_account: Option<i64>,
    /// An app portal session that may look but not change anything.
    pub read_only: bool,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = HtmlError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = cookie_value(&parts.headers).ok_or(HtmlError::SignIn)?;
        let token = decode(&state.config.secret_key, &value).ok_or(HtmlError::SignIn)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let live = state
            .store
            .web_session(token, now_ms)
            .await?
            .ok_or(HtmlError::SignIn)?;
        Ok(Session {
            user: live.user,
            csrf: live.csrf,
            token: token.to_owned(),
            portal_account: live.portal_account,
            read_only: live.read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_signed() {
        let key = b"k".repeat(32);
        let v = encode(&key, "abc123").unwrap();
        assert_eq!(decode(&key, &v), Some("abc123"));
        assert!(decode(b"other-key", &v).is_none(), "wrong key");
        assert!(decode(&key, "abc124.").is_none(), "no MAC");
        assert!(decode(&key, "abc123").is_none(), "no separator");
        let (_, sig) = v.split_once('.').unwrap();
        assert!(
            decode(&key, &format!("abc124.{sig}")).is_none(),
            "other token"
        );
        assert!(set_cookie(Some("x"), false).contains("HttpOnly; SameSite=Strict"));
        assert!(set_cookie(Some("x"), true).ends_with("; Secure"));
    }
}
