//! Transport rules: auth texts, content types, malformed JSON, body limits after gzip,
//! trailing slashes, pages, OpenAPI.

use std::io::Write;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use super::harness::TestApp;

#[tokio::test]
async fn auth_errors_have_the_sdk_texts() {
    let app = TestApp::new().await;
    let r = app
        .raw(Request::get("/user").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body["detail"],
        "Authentication credentials were not provided."
    );
    let r = app.call("GET", "/api_status/", "dh_wrong", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let detail = r.body["detail"].as_str().unwrap().to_lowercase();
    assert!(!detail.contains("not found") && !detail.contains("does not exist"));
}

#[tokio::test]
async fn bad_bodies_get_clear_errors_and_change_nothing() {
    let app = TestApp::new().await;
    let key = app.user("jane").await;
    let long = format!(r#"{{"name": "{}"}}"#, "x".repeat(101));
    let cases: Vec<(Option<&str>, &str, StatusCode)> = vec![
        (
            Some("application/json"),
            "{not json",
            StatusCode::BAD_REQUEST,
        ),
        (Some("application/json"), "[1,2]", StatusCode::BAD_REQUEST),
        (
            Some("application/json"),
            r#"{"name": 5}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            r#"{"name": "x", "task_type": "bbox"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            r#"{"name": ""}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            r#"{"name": "a/b"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (Some("application/json"), &long, StatusCode::BAD_REQUEST),
        (
            Some("application/json"),
            r#"{"description": "no name"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("text/plain"),
            r#"{"name": "x"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (None, r#"{"name": "x"}"#, StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (ct, body, want) in cases {
        let mut b =
            Request::post("/user/datasets/").header("authorization", format!("APIKey {key}"));
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        let r = app.raw(b.body(Body::from(body.to_owned())).unwrap()).await;
        assert_eq!(r.status, want, "{body}: {}", r.body);
        assert!(
            r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}: {}",
            r.body
        );
    }
    assert!(app.events().await.is_empty());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn gzip_bodies_are_decompressed_and_bombs_refused() {
    let app = TestApp::new().await;
    let key = app.user("jane").await;
    let ok = gzip(json!({"name": "zipped"}).to_string().as_bytes());
    let r = app
        .raw(
            Request::post("/user/datasets/")
                .header("authorization", format!("APIKey {key}"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Body::from(ok))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // 10 MB of spaces compress to ~10 kB: under the limit on the wire, far over it unpacked.
    let mut big = b"{\"name\": \"bomb\", \"description\": \"".to_vec();
    big.extend(std::iter::repeat_n(b' ', 10_000_000));
    big.extend(b"\"}");
    let bomb = gzip(&big);
    assert!(bomb.len() < 64 * 1024);
    let r = app
        .raw(
            Request::post("/user/datasets/")
                .header("authorization", format!("APIKey {key}"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Body::from(bomb))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(app.event_types().await, ["dataset.created"]);
}

#[tokio::test]
async fn both_slash_forms_and_pages() {
    let app = TestApp::new().await;
    let key = app.user("jane").await;
    for path in [
        "/user",
        "/user/",
        "/api_status/",
        "/api_status",
        "/users/jane",
        "/users/jane/",
    ] {
        assert_eq!(
            app.call("GET", path, &key, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let r = app
        .call("GET", "/user/datasets/?page=1&per_page=10", &key, None)
        .await;
    assert_eq!(r.body, json!([]));
    let r = app
        .call("GET", "/user/datasets/?page=2&per_page=10", &key, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["detail"], "Invalid page.");
    let r = app.call("GET", "/user/datasets/?page=x", &key, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn openapi_lists_the_routes() {
    let app = TestApp::new().await;
    let r = app
        .raw(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/datasets/{owner}/{name}/samples/",
        "/labels/{uuid}/{labelset}/",
        "/api/v1/app/{app}/endpoint",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    assert!(r.body["paths"]["/datasets/{owner}/{name}/samples/"]["post"]["summary"].is_string());
}
