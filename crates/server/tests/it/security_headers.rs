//! Security headers on pages, the API and the static files, and `Secure` cookies behind an
//! https public URL.

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use tower::ServiceExt;

use crate::harness::TestApp;

async fn headers(app: &TestApp, req: Request<Body>) -> HeaderMap {
    app.router
        .clone()
        .oneshot(req)
        .await
        .unwrap()
        .headers()
        .clone()
}

fn get(path: &str, key: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().uri(path);
    if let Some(k) = key {
        b = b.header("authorization", format!("APIKey {k}"));
    }
    b.body(Body::empty()).unwrap()
}

fn assert_protected(h: &HeaderMap, what: &str) {
    let v = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        v("content-security-policy").as_deref(),
        Some("default-src 'self'; frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(v("x-frame-options").as_deref(), Some("DENY"), "{what}");
    assert_eq!(
        v("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        v("referrer-policy").as_deref(),
        Some("same-origin"),
        "{what}"
    );
}

#[tokio::test]
async fn pages_and_api_answers_carry_the_security_headers_and_are_not_stored() {
    let app = TestApp::new().await;
    let key = app.user("jane").await;
    for (path, key) in [
        ("/ui/login", None),
        ("/user", Some(key.as_str())),
        ("/api/v1/app/", Some(key.as_str())),
        ("/user", None),
        ("/no/such/route", None),
    ] {
        let h = headers(&app, get(path, key)).await;
        assert_protected(&h, path);
        assert_eq!(h.get("cache-control").unwrap(), "no-store", "{path}");
    }
}

#[tokio::test]
async fn static_files_are_protected_but_cacheable() {
    let app = TestApp::new().await;
    for path in ["/ui/static/app.js", "/ui/static/style.css"] {
        let h = headers(&app, get(path, None)).await;
        assert_protected(&h, path);
        assert!(h.get("cache-control").is_none(), "{path}");
    }
}

async fn sign_in_cookie(app: &TestApp, key: &str) -> String {
    let req = Request::builder()
        .method("POST")
        .uri("/ui/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("api_key={key}")))
        .unwrap();
    let h = headers(app, req).await;
    assert_protected(&h, "sign-in answer");
    h.get("set-cookie").unwrap().to_str().unwrap().to_owned()
}

#[tokio::test]
async fn cookies_are_secure_exactly_when_the_public_url_is_https() {
    let app = TestApp::with_public_url("https://hooks.example.com").await;
    let key = app.user("jane").await;
    let cookie = sign_in_cookie(&app, &key).await;
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    let app = TestApp::new().await;
    let key = app.user("jane").await;
    let cookie = sign_in_cookie(&app, &key).await;
    assert!(!cookie.contains("Secure"), "{cookie}");
}
