//! First run: the sign-in hint follows the server's state, and the one-time setup link
//! creates the first user, shows its key once, and is refused afterwards.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use datahooks_domain::setup::SETUP_LINK_TTL_MS;

use crate::harness::TestApp;

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    html: String,
}

async fn page(app: &TestApp, method: &str, path: &str, form: Option<&str>, origin: &str) -> Page {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "test.local")
        .header("origin", origin);
    let body = match form {
        Some(f) => {
            b = b.header("content-type", "application/x-www-form-urlencoded");
            Body::from(f.to_owned())
        }
        None => Body::empty(),
    };
    let resp = app
        .router
        .clone()
        .oneshot(b.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        html: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

const SAME: &str = "http://test.local";

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn the_sign_in_hint_follows_the_servers_state() {
    let app = TestApp::new().await;
    let empty = page(&app, "GET", "/ui/login", None, SAME).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.html.contains("no users yet"), "{}", empty.html);
    assert!(empty.html.contains("setup link"));
    assert!(!empty.html.contains("apikey create USER"));

    app.user("jane").await;
    let some = page(&app, "GET", "/ui/login", None, SAME).await;
    assert!(
        some.html.contains("datahooks apikey create USER"),
        "{}",
        some.html
    );
    assert!(!some.html.contains("no users yet"));
}

#[tokio::test]
async fn the_setup_link_creates_the_first_user_once() {
    let app = TestApp::new().await;
    let token = app
        .store
        .create_setup_link(wall_ms() + SETUP_LINK_TTL_MS)
        .await
        .unwrap();
    let path = format!("/ui/setup/{token}");

    let form = page(&app, "GET", &path, None, SAME).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.html.contains("Create the first user"));
    assert_eq!(form.headers["cache-control"], "no-store");
    // `no-referrer` would make browsers send `Origin: null` on the form post.
    assert_eq!(form.headers["referrer-policy"], "same-origin");

    // A form posted from another site does nothing.
    let cross = page(&app, "POST", &path, Some("name=eve"), "http://evil.example").await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(app.store.count_users().await.unwrap(), 0);

    // A bad name shows the form again with the reason, and keeps what was typed.
    let bad = page(
        &app,
        "POST",
        &path,
        Some("name=no+spaces&email=j%40x.org"),
        SAME,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("id=\"setup-error\""), "{}", bad.html);
    assert!(bad.html.contains("j@x.org"));
    assert_eq!(app.store.count_users().await.unwrap(), 0);

    let done = page(
        &app,
        "POST",
        &path,
        Some("name=jane&email=jane%40example.com"),
        SAME,
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert_eq!(done.headers["cache-control"], "no-store");
    let key = done
        .html
        .split("<code id=\"api-key\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the key is shown")
        .to_owned();
    let who = app.store.authenticate(&key).await.unwrap().unwrap();
    assert_eq!(who.name, "jane");
    assert_eq!(who.email.as_deref(), Some("jane@example.com"));

    // Refused from now on, with a page that says why; the key is never shown again.
    for method in ["GET", "POST"] {
        let again = page(&app, method, &path, Some("name=mallory"), SAME).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{method}");
        assert!(again.html.contains("already has users"), "{}", again.html);
        assert!(!again.html.contains(&key));
    }
    assert_eq!(app.store.count_users().await.unwrap(), 1);
}

#[tokio::test]
async fn unknown_and_expired_links_are_refused() {
    let app = TestApp::new().await;
    let unknown = page(
        &app,
        "GET",
        &format!("/ui/setup/{}", "ab".repeat(32)),
        None,
        SAME,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.html.contains("Setup link refused"));

    let old = app.store.create_setup_link(wall_ms() - 1).await.unwrap();
    let expired = page(
        &app,
        "POST",
        &format!("/ui/setup/{old}"),
        Some("name=jane"),
        SAME,
    )
    .await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.html.contains("expired"), "{}", expired.html);
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}
