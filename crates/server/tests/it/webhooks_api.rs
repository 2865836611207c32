//! The webhook API through the app: who may manage what, and fan-out to owners only.

use axum::http::StatusCode;
use serde_json::json;

use super::harness::TestApp;

#[tokio::test]
async fn only_owners_receive_and_only_managers_see() {
    let app = TestApp::new().await;
    let jane = app.user("jane").await;
    let bob = app.user("bob").await;
    for (key, name) in [(&jane, "jane"), (&bob, "bob")] {
        let r = app
            .call(
                "POST",
                "/api/v1/app",
                key,
                Some(json!({"name": name, "uid": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    // bob cannot enable or see jane's application.
    let r = app
        .call("POST", "/api/v1/app", &bob, Some(json!({"uid": "jane"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call("GET", "/api/v1/app/jane/endpoint", &bob, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let ep = app
        .call(
            "POST",
            "/api/v1/app/jane/endpoint",
            &jane,
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(ep.status, StatusCode::CREATED, "{}", ep.body);
    let bob_ep = app
        .call(
            "POST",
            "/api/v1/app/bob/endpoint",
            &bob,
            Some(json!({"url": "http://127.0.0.1:9/bob"})),
        )
        .await;
    let ep_id = ep.body["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            "GET",
            &format!("/api/v1/app/bob/endpoint/{ep_id}"),
            &bob,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // bob collaborates on jane's dataset: the event goes to jane's endpoint only.
    app.call(
        "POST",
        "/user/datasets/",
        &jane,
        Some(json!({"name": "flowers"})),
    )
    .await;
    app.call(
        "POST",
        "/datasets/jane/flowers/collaborators/",
        &jane,
        Some(json!({"user": "bob", "role": "admin"})),
    )
    .await;
    app.call(
        "POST",
        "/datasets/jane/flowers/samples/",
        &bob,
        Some(json!({"name": "a.png"})),
    )
    .await;
    let jane_stats = app
        .call(
            "GET",
            &format!("/api/v1/app/jane/endpoint/{ep_id}/stats"),
            &jane,
            None,
        )
        .await;
    assert_eq!(jane_stats.body["pending"], 3, "{}", jane_stats.body);
    // Nothing sent yet: the pace is open at the initial limit, with no rate learned.
    assert_eq!(
        jane_stats.body["pace"],
        json!({"state": "open", "until": null, "limit": 4, "rateCap": null, "recentRate": 0.0}),
        "{}",
        jane_stats.body
    );
    let bob_id = bob_ep.body["id"].as_str().unwrap();
    let bob_stats = app
        .call(
            "GET",
            &format!("/api/v1/app/bob/endpoint/{bob_id}/stats"),
            &bob,
            None,
        )
        .await;
    assert_eq!(bob_stats.body["pending"], 0);
    let user = app.call("GET", "/user", &jane, None).await;
    assert_eq!(user.body["webhooks_enabled"], true);
}

#[tokio::test]
async fn forbidden_destinations_are_refused_at_creation() {
    let app = TestApp::new().await;
    let jane = app.user("jane").await;
    app.call("POST", "/api/v1/app", &jane, Some(json!({"uid": "jane"})))
        .await;
    for url in [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest",
        "ftp://127.0.0.1/",
        "not a url",
        "http://[fc00::1]/",
    ] {
        let r = app
            .call(
                "POST",
                "/api/v1/app/jane/endpoint",
                &jane,
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.body);
        assert!(r.body["detail"].as_str().is_some(), "{url}");
    }
    let r = app
        .call(
            "POST",
            "/api/v1/app/jane/endpoint",
            &jane,
            Some(json!({"url": "http://127.0.0.1:1/", "eventTypes": ["nope"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_response() {
    let app = TestApp::new().await;
    let jane = app.user("jane").await;
    app.call("POST", "/api/v1/app", &jane, Some(json!({"uid": "jane"})))
        .await;
    let send = || async {
        app.raw(
            axum::http::Request::post("/api/v1/app/jane/msg")
                .header("authorization", format!("Bearer {jane}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "k1")
                .body(axum::body::Body::from(
                    json!({"eventType": "custom.thing", "payload": {"a": 1}}).to_string(),
                ))
                .unwrap(),
        )
        .await
    };
    let a = send().await;
    let b = send().await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.body["id"], b.body["id"]);
    let list = app.call("GET", "/api/v1/app/jane/msg", &jane, None).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(list.body.get("iterator").is_some());
}
