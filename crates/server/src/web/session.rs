//! Sign-in sessions for the web pages: a signed, expiring, `HttpOnly`, `SameSite=Strict`
//! cookie that names the user and carries the CSRF token every form must echo.
//!
//! The API key itself is never stored in the cookie, a URL or a log: it is checked once at
//! sign-in and only the user id travels afterwards.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use datahooks_store::Account;

use super::page::HtmlError;
use crate::state::AppState;

/// Cookie name.
pub const COOKIE: &str = "dh_session";
/// How long a session lasts.
pub const TTL_SECS: i64 = 8 * 3600;

/// What the cookie carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub uid: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// CSRF token for this session.
    pub csrf: String,
}

fn mac(key: &[u8], payload: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(b"ui-session:");
            m.update(payload.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Signs claims into a cookie value.
pub fn encode(key: &[u8], claims: &Claims) -> String {
    let json = serde_json::to_string(claims).unwrap_or_default();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let sig = mac(key, &payload);
    format!("{payload}.{sig}")
}

/// Checks a cookie value's signature and expiry.
pub fn decode(key: &[u8], value: &str, now: i64) -> Option<Claims> {
    let (payload, sig) = value.split_once('.')?;
    let want = mac(key, payload);
    // Constant-time comparison of the two hex strings.
    if want.len() != sig.len()
        || want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
    {
        return None;
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Claims = serde_json::from_slice(&json).ok()?;
    (claims.exp > now).then_some(claims)
}

/// New claims for a user.
pub fn new_claims(uid: i64, now: i64) -> Claims {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    Claims {
        uid,
        exp: now + TTL_SECS,
        csrf: hex::encode(b),
    }
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
}

impl FromRequestParts<AppState> for Session {
    type Rejection = HtmlError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = chrono::Utc::now().timestamp();
        let claims = cookie_value(&parts.headers)
            .and_then(|v| decode(&state.config.secret_key, &v, now))
            .ok_or(HtmlError::SignIn)?;
        let managed = state
            .store
            .managed_accounts(claims.uid)
            .await
            .map_err(HtmlError::from)?;
        let user = managed
            .into_iter()
            .find(|a| a.id == claims.uid)
            .ok_or(HtmlError::SignIn)?;
        Ok(Session {
            user,
            csrf: claims.csrf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_signed_and_expire() {
        let key = b"k".repeat(32);
        let c = new_claims(7, 1000);
        let v = encode(&key, &c);
        assert_eq!(decode(&key, &v, 1001).unwrap().uid, 7);
        assert!(decode(&key, &v, 1000 + TTL_SECS).is_none(), "expired");
        assert!(decode(b"other-key", &v, 1001).is_none(), "wrong key");
        let tampered = v.replacen('e', "f", 1);
        assert!(tampered == v || decode(&key, &tampered, 1001).is_none());
        assert!(set_cookie(Some("x"), false).contains("HttpOnly; SameSite=Strict"));
    }
}
