//! House extractors: the authenticated caller, a JSON body with clear errors, query maps.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde_json::Value;

use datahooks_domain::nesting;
use datahooks_store::Account;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated user, from `Authorization: APIKey <key>` (or `Bearer <key>`).
#[derive(Debug, Clone)]
pub struct Caller(pub Account);

/// Reads the key out of an `Authorization` header value.
pub fn key_from_header(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    let scheme = scheme.to_ascii_lowercase();
    (matches!(scheme.as_str(), "apikey" | "bearer" | "token") && !key.trim().is_empty())
        .then(|| key.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Already authenticated by a middleware (idempotency keys need the account first).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthenticated());
        };
        let key = value
            .to_str()
            .ok()
            .and_then(key_from_header)
            .ok_or_else(ApiError::bad_key)?;
        match state.store.authenticate(key).await? {
            Some(account) => Ok(Caller(account)),
            None => Err(ApiError::bad_key()),
        }
    }
}

/// A JSON request body, decoded (gzip bodies arrive decompressed) but not yet interpreted.
/// Wrong content types, malformed JSON and oversized bodies get clear 4xx errors.
#[derive(Debug, Clone)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        if !(mime == "application/json" || mime.ends_with("+json")) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Unsupported content type {:?}: send the body as application/json.",
                    if mime.is_empty() {
                        "(none)"
                    } else {
                        mime.as_str()
                    }
                ),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "payload_too_large",
                    "The request body is too large.",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!(
                        "The request body could not be read: {}",
                        rejection.body_text()
                    ),
                )
            }
        })?;
        let value = serde_json::from_slice::<Value>(&bytes).map_err(|e| {
            // serde_json stops at 128 levels; say which limit the body broke.
            if e.to_string().starts_with("recursion limit exceeded") {
                return ApiError::from(nesting::too_deep(None));
            }
            ApiError::bad_request(
                "malformed_json",
                format!("Malformed JSON in the request body: {e}."),
            )
        })?;
        // Deeper input would be stored but could not be read back inside an event.
        nesting::check(&value)?;
        Ok(JsonBody(value))
    }
}

/// Query parameters as a map; repeated keys keep the last value.
#[derive(Debug, Clone, Default)]
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(q);
        Ok(QueryMap(pairs.into_iter().collect()))
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (query strings and HTML form bodies).
pub fn serde_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl QueryMap {
    /// A parameter's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A whole-number parameter, with a clear error when it is not one.
    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("Query parameter '{k}' must be a whole number."),
                )
            }),
        }
    }

    /// A boolean flag (`1`, `true`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1") | Some("true") | Some("True"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_headers() {
        assert_eq!(key_from_header("APIKey abc"), Some("abc"));
        assert_eq!(key_from_header("Bearer abc"), Some("abc"));
        assert_eq!(key_from_header("Basic abc"), None);
        assert_eq!(key_from_header("APIKey "), None);
    }

    #[test]
    fn query_decoding() {
        let p = serde_urlencoded_pairs("a=1&name__contains=rose%20x&f=k:v,k2:v+2&x");
        assert!(p.contains(&("name__contains".into(), "rose x".into())));
        assert!(p.contains(&("f".into(), "k:v,k2:v 2".into())));
        assert!(p.contains(&("x".into(), "".into())));
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
    }
}
