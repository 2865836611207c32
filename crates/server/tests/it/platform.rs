//! Platform rules through the HTTP app: privacy, permissions, events with exact payloads.

use axum::http::StatusCode;
use serde_json::json;

use super::harness::TestApp;

async fn app_with_dataset() -> (TestApp, String) {
    let app = TestApp::new().await;
    let jane = app.user("jane").await;
    let r = app
        .call(
            "POST",
            "/user/datasets/",
            &jane,
            Some(json!({"name": "flowers", "task_type": "vector"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (app, jane)
}

#[tokio::test]
async fn private_datasets_are_not_found_for_others() {
    let (app, _jane) = app_with_dataset().await;
    let bob = app.user("bob").await;
    for (method, path) in [
        ("GET", "/datasets/jane/flowers/"),
        ("PATCH", "/datasets/jane/flowers/"),
        ("DELETE", "/datasets/jane/flowers/"),
        ("GET", "/datasets/jane/flowers/samples/"),
    ] {
        let body = (method == "PATCH").then(|| json!({"description": "x"}));
        let r = app.call(method, path, &bob, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(r.body["detail"], "Not found.");
    }
    let r = app.call("GET", "/users/jane/datasets/", &bob, None).await;
    assert_eq!(r.body, json!([]));
}

#[tokio::test]
async fn labelers_may_label_but_not_administer() {
    let (app, jane) = app_with_dataset().await;
    let lab = app.user("lab").await;
    let r = app
        .call(
            "POST",
            "/datasets/jane/flowers/collaborators/",
            &jane,
            Some(json!({"user": "lab", "role": "labeler"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .call(
            "POST",
            "/datasets/jane/flowers/samples/",
            &jane,
            Some(json!({"name": "a.png", "attributes": {"image": {"url": "u"}}})),
        )
        .await;
    let uuid = r.body["uuid"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "PUT",
            &format!("/labels/{uuid}/ground-truth/"),
            &lab,
            Some(json!({"label_status": "LABELED", "attributes": {"annotations": []}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .call("DELETE", "/datasets/jane/flowers/", &lab, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("do not have permission"));
    let r = app
        .call(
            "POST",
            "/datasets/jane/flowers/samples/",
            &lab,
            Some(json!({"name": "b.png"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn each_change_writes_exactly_its_event() {
    let (app, jane) = app_with_dataset().await;
    let s = app
        .call(
            "POST",
            "/datasets/jane/flowers/samples/",
            &jane,
            Some(json!({"name": "rose.png", "attributes": {"image": {"url": "u"}}})),
        )
        .await;
    let uuid = s.body["uuid"].as_str().unwrap().to_owned();
    app.call(
        "PATCH",
        &format!("/samples/{uuid}/"),
        &jane,
        Some(json!({"priority": 3})),
    )
    .await;
    app.call(
        "PUT",
        &format!("/labels/{uuid}/ground-truth/"),
        &jane,
        Some(json!({"attributes": {"annotations": []}})),
    )
    .await;
    app.call(
        "DELETE",
        &format!("/labels/{uuid}/ground-truth/"),
        &jane,
        None,
    )
    .await;
    let i = app
        .call(
            "POST",
            &format!("/samples/{uuid}/issues/"),
            &jane,
            Some(json!({"description": "bad"})),
        )
        .await;
    let issue = i.body["uuid"].as_str().unwrap().to_owned();
    app.call(
        "POST",
        &format!("/issues/{issue}/comments/"),
        &jane,
        Some(json!({"text": "agreed"})),
    )
    .await;
    app.call(
        "PATCH",
        "/datasets/jane/flowers/",
        &jane,
        Some(json!({"description": "d"})),
    )
    .await;
    app.call("DELETE", &format!("/samples/{uuid}/"), &jane, None)
        .await;
    app.call("DELETE", "/datasets/jane/flowers/", &jane, None)
        .await;
    assert_eq!(
        app.event_types().await,
        [
            "dataset.created",
            "sample.created",
            "sample.updated",
            "label.updated",
            "label.deleted",
            "issue.created",
            "issue.updated",
            "dataset.updated",
            "sample.deleted",
            "dataset.deleted"
        ]
    );
    let events = app.events().await;
    let created = &events[1];
    assert_eq!(created["api_version"], "2021-08-01");
    assert_eq!(created["dataset"], "jane/flowers");
    assert_eq!(created["object"], s.body, "object is what the API returned");
    assert_eq!(
        created["text"],
        "Sample rose.png created in dataset jane/flowers."
    );
    let ts = created["created_at"].as_str().unwrap();
    assert!(
        ts.ends_with("+00:00") && ts.len() == "2021-08-09T14:40:19.987691+00:00".len(),
        "{ts}"
    );
    assert_eq!(events[6]["object"]["comments"][0]["text"], "agreed");
    assert_eq!(events[9]["object"]["name"], "flowers");
}

#[tokio::test]
async fn a_refused_bulk_change_leaves_nothing_behind() {
    let (app, jane) = app_with_dataset().await;
    let before = app.events().await.len();
    // The second sample breaks a rule: the whole call is refused, the first one is not kept.
    let r = app
        .call(
            "POST",
            "/datasets/jane/flowers/samples_bulk/",
            &jane,
            Some(json!([{"name": "ok.png"}, {"name": ""}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // A store-level failure mid-transaction (duplicate name on a single add) rolls back too.
    app.call(
        "POST",
        "/datasets/jane/flowers/samples/",
        &jane,
        Some(json!({"name": "dup.png"})),
    )
    .await;
    let r = app
        .call(
            "POST",
            "/datasets/jane/flowers/samples/",
            &jane,
            Some(json!({"name": "dup.png"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    let r = app
        .call("GET", "/datasets/jane/flowers/samples/", &jane, None)
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(app.events().await.len(), before + 1);
}

#[tokio::test]
async fn malformed_ids_are_not_found() {
    let (app, jane) = app_with_dataset().await;
    for path in [
        "/samples/12345/",
        "/issues/12345/",
        "/labels/12345/ground-truth/",
    ] {
        assert_eq!(
            app.call("GET", path, &jane, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let r = app
        .call(
            "POST",
            "/samples/12345/issues/",
            &jane,
            Some(json!({"description": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
