//! The wire format, pinned: one scripted session calls the routes of both APIs and compares
//! every answer (status and JSON body) with `snapshots/wire.json`. The SDKs read these bodies,
//! so a change of a field name, a `null` that becomes absent or a new nesting fails here.
//!
//! Values that differ per run (ids, uuids, times, secrets, keys) are replaced by placeholders
//! before the comparison; everything else is compared exactly. After a deliberate change, run
//! with `DATAHOOKS_UPDATE_SNAPSHOTS=1` and review the diff of the snapshot file.

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::harness::TestApp;

/// The placeholder for a string that differs per run, or `None` if it is stable.
fn placeholder(s: &str) -> Option<String> {
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return Some("<time>".into());
    }
    if uuid::Uuid::parse_str(s).is_ok() {
        return Some("<uuid>".into());
    }
    // App portal tokens: 256 random bits in hex.
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some("<token>".into());
    }
    for prefix in ["whsec_", "ep_", "msg_", "atmpt_", "qtask_", "evt_"] {
        if s.starts_with(prefix) && s.len() > prefix.len() + 6 {
            return Some(format!("<{prefix}>"));
        }
    }
    // Asset and release links carry uuids and tokens.
    if s.starts_with("http://test.local/") && s.len() > 40 {
        let kept: Vec<&str> = s
            .split('/')
            .map(|seg| {
                if uuid::Uuid::parse_str(seg).is_ok() || seg.len() > 30 {
                    "<id>"
                } else {
                    seg
                }
            })
            .collect();
        return Some(kept.join("/"));
    }
    None
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::String(s) => placeholder(s).map(Value::String).unwrap_or(v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                // An upload's signed form fields carry the time and the asset's uuid.
                let varies = matches!(k.as_str(), "policy" | "x-amz-date" | "x-amz-signature")
                    || (k == "key" && v.as_str().is_some_and(|s| s.starts_with("assets/")))
                    // A background task runs on its own: it may have finished already.
                    || (k == "status" && matches!(v.as_str(), Some("running" | "finished")));
                let v = if varies {
                    json!("<varies>")
                } else {
                    normalize(v)
                };
                m.insert(k.clone(), v);
            }
            Value::Object(m)
        }
        other => other.clone(),
    }
}

/// Records each answer under a label ("METHOD /route/template").
struct Recorder<'a> {
    app: &'a TestApp,
    key: String,
    calls: Vec<Value>,
}

impl Recorder<'_> {
    async fn call(&mut self, label: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.app.call(method, path, &self.key, body).await;
        assert!(r.status.as_u16() < 500, "{label}: {} {}", r.status, r.body);
        self.calls.push(json!({
            "call": label,
            "status": r.status.as_u16(),
            "body": normalize(&r.body),
        }));
        r.body
    }
}

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots/wire.json")
}

#[tokio::test]
async fn every_route_answers_as_pinned() {
    let app = TestApp::new().await;
    let key = app.user("jane").await;
    app.user("bob").await;
    let mut r = Recorder {
        app: &app,
        key,
        calls: Vec::new(),
    };

    // Accounts.
    r.call(
        "GET /api_status/",
        "GET",
        "/api_status/?lib_version=1",
        None,
    )
    .await;
    r.call("GET /user", "GET", "/user", None).await;
    r.call("GET /users/{user}", "GET", "/users/bob", None).await;
    r.call("GET /users/{user} (404)", "GET", "/users/nobody", None)
        .await;

    // Datasets.
    let ds = "/datasets/jane/flowers";
    r.call(
        "POST /user/datasets/",
        "POST",
        "/user/datasets/",
        Some(json!({"name": "flowers", "task_type": "vector", "description": "Roses"})),
    )
    .await;
    r.call(
        "POST /user/datasets/ (400)",
        "POST",
        "/user/datasets/",
        Some(json!({"task_type": "vector"})),
    )
    .await;
    r.call("GET /user/datasets/", "GET", "/user/datasets/", None)
        .await;
    r.call(
        "GET /users/{user}/datasets/",
        "GET",
        "/users/jane/datasets/",
        None,
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/",
        "GET",
        &format!("{ds}/"),
        None,
    )
    .await;
    r.call(
        "PATCH /datasets/{owner}/{name}/",
        "PATCH",
        &format!("{ds}/"),
        Some(json!({"readme": "Read me", "metadata": {"k": 1}})),
    )
    .await;
    r.call(
        "POST /datasets/{owner}/{name}/collaborators/",
        "POST",
        &format!("{ds}/collaborators/"),
        Some(json!({"user": "bob", "role": "labeler"})),
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/collaborators/{user}",
        "GET",
        &format!("{ds}/collaborators/bob"),
        None,
    )
    .await;
    r.call(
        "PATCH /datasets/{owner}/{name}/collaborators/{user}",
        "PATCH",
        &format!("{ds}/collaborators/bob"),
        Some(json!({"role": "reviewer"})),
    )
    .await;
    r.call(
        "DELETE /datasets/{owner}/{name}/collaborators/{user}",
        "DELETE",
        &format!("{ds}/collaborators/bob"),
        None,
    )
    .await;
    r.call(
        "POST /datasets/{owner}/{name}/labelsets/",
        "POST",
        &format!("{ds}/labelsets/"),
        Some(json!({"name": "model", "description": "Predictions"})),
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/labelsets/",
        "GET",
        &format!("{ds}/labelsets/"),
        None,
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/labelsets/{labelset}/",
        "GET",
        &format!("{ds}/labelsets/model/"),
        None,
    )
    .await;
    r.call(
        "DELETE /datasets/{owner}/{name}/labelsets/{labelset}/",
        "DELETE",
        &format!("{ds}/labelsets/model/"),
        None,
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/workunits/",
        "GET",
        &format!("{ds}/workunits/"),
        None,
    )
    .await;

    // Samples and labels.
    let sample = r
        .call(
            "POST /datasets/{owner}/{name}/samples/",
            "POST",
            &format!("{ds}/samples/"),
            Some(
                json!({"name": "a.png", "attributes": {"image": {"url": "http://x/a.png"}},
                        "metadata": {"weather": "sunny"}, "priority": 2}),
            ),
        )
        .await;
    let uuid = sample["uuid"].as_str().unwrap().to_owned();
    r.call(
        "POST /datasets/{owner}/{name}/samples_bulk/",
        "POST",
        &format!("{ds}/samples_bulk/"),
        Some(json!([{"name": "b.png"}, {"name": "c.png"}])),
    )
    .await;
    r.call(
        "GET /samples/{uuid}/",
        "GET",
        &format!("/samples/{uuid}/"),
        None,
    )
    .await;
    r.call(
        "PATCH /samples/{uuid}/",
        "PATCH",
        &format!("/samples/{uuid}/"),
        Some(json!({"readme": "look closely"})),
    )
    .await;
    r.call(
        "PUT /labels/{uuid}/{labelset}/",
        "PUT",
        &format!("/labels/{uuid}/ground-truth/"),
        Some(
            json!({"attributes": {"format_version": "0.1", "annotations": []},
                    "label_status": "LABELED", "score": 0.5}),
        ),
    )
    .await;
    r.call(
        "GET /labels/{uuid}/{labelset}/",
        "GET",
        &format!("/labels/{uuid}/ground-truth/"),
        None,
    )
    .await;
    r.call(
        "PATCH /labels/{uuid}/{labelset}/",
        "PATCH",
        &format!("/labels/{uuid}/ground-truth/"),
        Some(json!({"label_status": "REVIEWED"})),
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/samples/",
        "GET",
        &format!("{ds}/samples/?labelset=ground-truth"),
        None,
    )
    .await;

    // Issues.
    let issue = r
        .call(
            "POST /samples/{uuid}/issues/",
            "POST",
            &format!("/samples/{uuid}/issues/"),
            Some(json!({"description": "Blurry"})),
        )
        .await;
    let issue = issue["uuid"].as_str().unwrap_or_default().to_owned();
    r.call(
        "GET /samples/{uuid}/issues/",
        "GET",
        &format!("/samples/{uuid}/issues/"),
        None,
    )
    .await;
    r.call(
        "POST /issues/{uuid}/comments/",
        "POST",
        &format!("/issues/{issue}/comments/"),
        Some(json!({"text": "Agreed"})),
    )
    .await;
    r.call(
        "PATCH /issues/{uuid}/",
        "PATCH",
        &format!("/issues/{issue}/"),
        Some(json!({"status": "CLOSED"})),
    )
    .await;
    r.call(
        "GET /issues/{uuid}/",
        "GET",
        &format!("/issues/{issue}/"),
        None,
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/issues/",
        "GET",
        &format!("{ds}/issues/"),
        None,
    )
    .await;
    r.call(
        "DELETE /issues/{uuid}/",
        "DELETE",
        &format!("/issues/{issue}/"),
        None,
    )
    .await;

    // Releases (the build runs in the background: the list is read before
    // it starts, and only the request's answer is pinned after).
    r.call(
        "GET /datasets/{owner}/{name}/releases/",
        "GET",
        &format!("{ds}/releases/"),
        None,
    )
    .await;
    r.call(
        "POST /datasets/{owner}/{name}/releases/",
        "POST",
        &format!("{ds}/releases/"),
        Some(json!({"name": "v0.1", "description": "first"})),
    )
    .await;
    r.call(
        "POST /datasets/{owner}/{name}/clone/",
        "POST",
        &format!("{ds}/clone/"),
        Some(json!({"name": "flowers-copy"})),
    )
    .await;
    r.call(
        "GET /datasets/{owner}/{name}/releases/{release}/ (404)",
        "GET",
        &format!("{ds}/releases/nope/"),
        None,
    )
    .await;

    // Assets: registering an upload.
    r.call(
        "POST /assets/",
        "POST",
        "/assets/",
        Some(json!({"filename": "a.png"})),
    )
    .await;

    // Svix: applications.
    r.call(
        "POST /api/v1/app",
        "POST",
        "/api/v1/app",
        Some(json!({"name": "Jane's hooks", "uid": "jane", "metadata": {"team": "x"}})),
    )
    .await;
    r.call("GET /api/v1/app", "GET", "/api/v1/app", None).await;
    r.call("GET /api/v1/app/{app}", "GET", "/api/v1/app/jane", None)
        .await;
    r.call(
        "PATCH /api/v1/app/{app}",
        "PATCH",
        "/api/v1/app/jane",
        Some(json!({"throttleRate": 10})),
    )
    .await;
    r.call(
        "PUT /api/v1/app/{app}",
        "PUT",
        "/api/v1/app/jane",
        Some(json!({"name": "Jane"})),
    )
    .await;
    r.call(
        "POST /api/v1/app (409)",
        "POST",
        "/api/v1/app",
        Some(json!({"uid": "jane"})),
    )
    .await;

    // Endpoints.
    let ep = r
        .call(
            "POST /api/v1/app/{app}/endpoint",
            "POST",
            "/api/v1/app/jane/endpoint",
            Some(
                json!({"url": "http://127.0.0.1:9/hook", "description": "mine",
                        "filterTypes": ["sample.created"], "metadata": {"a": "b"}}),
            ),
        )
        .await;
    let ep = ep["id"].as_str().unwrap().to_owned();
    let e = format!("/api/v1/app/jane/endpoint/{ep}");
    r.call(
        "POST /api/v1/app/{app}/endpoint (400)",
        "POST",
        "/api/v1/app/jane/endpoint",
        Some(json!({"url": "ftp://x"})),
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/endpoint",
        "GET",
        "/api/v1/app/jane/endpoint",
        None,
    )
    .await;
    r.call("GET /api/v1/app/{app}/endpoint/{ep}", "GET", &e, None)
        .await;
    r.call(
        "PATCH /api/v1/app/{app}/endpoint/{ep}",
        "PATCH",
        &e,
        Some(json!({"description": "changed"})),
    )
    .await;
    r.call(
        "PUT /api/v1/app/{app}/endpoint/{ep}",
        "PUT",
        &e,
        Some(json!({"url": "http://127.0.0.1:9/hook2", "channels": ["jane/flowers"]})),
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/endpoint/{ep}/secret",
        "GET",
        &format!("{e}/secret"),
        None,
    )
    .await;
    r.call(
        "POST /api/v1/app/{app}/endpoint/{ep}/secret/rotate",
        "POST",
        &format!("{e}/secret/rotate"),
        Some(json!({})),
    )
    .await;
    r.call(
        "PUT /api/v1/app/{app}/endpoint/{ep}/headers",
        "PUT",
        &format!("{e}/headers"),
        Some(json!({"headers": {"X-Team": "a", "Authorization": "Bearer t"}})),
    )
    .await;
    r.call(
        "PATCH /api/v1/app/{app}/endpoint/{ep}/headers",
        "PATCH",
        &format!("{e}/headers"),
        Some(json!({"headers": {"X-Other": "b"}})),
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/endpoint/{ep}/headers",
        "GET",
        &format!("{e}/headers"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/endpoint/{ep}/stats",
        "GET",
        &format!("{e}/stats"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/endpoint/{ep}/attempt-stats",
        "GET",
        &format!("{e}/attempt-stats"),
        None,
    )
    .await;

    // Messages.
    let msg = r
        .call(
            "POST /api/v1/app/{app}/msg",
            "POST",
            "/api/v1/app/jane/msg",
            Some(
                json!({"eventType": "sample.created", "payload": {"hello": "world"},
                        "eventId": "evt-1", "channels": ["jane/flowers"]}),
            ),
        )
        .await;
    let msg = msg["id"].as_str().unwrap_or_default().to_owned();
    r.call(
        "GET /api/v1/app/{app}/msg",
        "GET",
        "/api/v1/app/jane/msg?limit=2",
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/msg/{msg}",
        "GET",
        &format!("/api/v1/app/jane/msg/{msg}"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/msg/{msg}/endpoint",
        "GET",
        &format!("/api/v1/app/jane/msg/{msg}/endpoint"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/attempt/msg/{msg}",
        "GET",
        &format!("/api/v1/app/jane/attempt/msg/{msg}"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/attempt/endpoint/{ep}",
        "GET",
        &format!("/api/v1/app/jane/attempt/endpoint/{ep}"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/endpoint/{ep}/msg",
        "GET",
        &format!("{e}/msg"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/app/{app}/msg/{msg}/attempt/{attempt} (404)",
        "GET",
        &format!("/api/v1/app/jane/msg/{msg}/attempt/atmpt_none"),
        None,
    )
    .await;
    r.call(
        "POST /api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend",
        "POST",
        &format!("/api/v1/app/jane/msg/{msg}/endpoint/{ep}/resend"),
        None,
    )
    .await;
    r.call(
        "POST /api/v1/app/{app}/endpoint/{ep}/send-example",
        "POST",
        &format!("{e}/send-example"),
        Some(json!({"eventType": "sample.created"})),
    )
    .await;
    r.call(
        "POST /api/v1/app/{app}/endpoint/{ep}/recover (422)",
        "POST",
        &format!("{e}/recover"),
        Some(json!({"since": "2026-01-01T00:00:00Z"})),
    )
    .await;
    let task = r
        .call(
            "POST /api/v1/app/{app}/endpoint/{ep}/replay-missing",
            "POST",
            &format!("{e}/replay-missing"),
            Some(json!({"since": "2026-01-01T00:00:00Z"})),
        )
        .await;
    let task = task["id"].as_str().unwrap_or("qtask_none").to_owned();
    r.call(
        "GET /api/v1/background-task/{task}",
        "GET",
        &format!("/api/v1/background-task/{task}"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/background-task",
        "GET",
        "/api/v1/background-task",
        None,
    )
    .await;

    // Event types.
    r.call(
        "GET /api/v1/event-type",
        "GET",
        "/api/v1/event-type?limit=3",
        None,
    )
    .await;
    r.call(
        "GET /api/v1/event-type/{name}",
        "GET",
        "/api/v1/event-type/sample.created",
        None,
    )
    .await;
    r.call(
        "POST /api/v1/event-type (403)",
        "POST",
        "/api/v1/event-type",
        Some(json!({"name": "sample.created", "description": "x"})),
    )
    .await;

    // Custom event types.
    let custom = "/api/v1/event-type/invoice.paid";
    r.call(
        "POST /api/v1/event-type",
        "POST",
        "/api/v1/event-type",
        Some(
            json!({"name": "invoice.paid", "description": "An invoice was paid",
                    "schemas": {"1": {"type": "object"}}, "featureFlags": ["beta"]}),
        ),
    )
    .await;
    r.call(
        "PUT /api/v1/event-type/{name}",
        "PUT",
        custom,
        Some(json!({"description": "Paid", "groupName": "billing"})),
    )
    .await;
    r.call(
        "PATCH /api/v1/event-type/{name}",
        "PATCH",
        custom,
        Some(json!({"deprecated": true, "schemas": null})),
    )
    .await;
    r.call("GET /api/v1/event-type/{name}", "GET", custom, None)
        .await;
    r.call("DELETE /api/v1/event-type/{name}", "DELETE", custom, None)
        .await;

    // Operational endpoints.
    let op = r
        .call(
            "POST /api/v1/operational-webhook/endpoint",
            "POST",
            "/api/v1/operational-webhook/endpoint",
            Some(
                json!({"url": "http://127.0.0.1:9/ops", "eventTypes": ["endpoint.disabled"],
                        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                        "headers": {"Authorization": "Bearer x", "X-Team": "a"}}),
            ),
        )
        .await;
    let op = format!(
        "/api/v1/operational-webhook/endpoint/{}",
        op["id"].as_str().unwrap_or("ep_none")
    );
    r.call(
        "GET /api/v1/operational-webhook/endpoint",
        "GET",
        "/api/v1/operational-webhook/endpoint",
        None,
    )
    .await;
    r.call(
        "PUT /api/v1/operational-webhook/endpoint/{ep}",
        "PUT",
        &op,
        Some(json!({"url": "http://127.0.0.1:9/ops2", "description": "ops"})),
    )
    .await;
    r.call(
        "GET /api/v1/operational-webhook/endpoint/{ep}/secret",
        "GET",
        &format!("{op}/secret"),
        None,
    )
    .await;
    r.call(
        "GET /api/v1/operational-webhook/endpoint/{ep}/headers",
        "GET",
        &format!("{op}/headers"),
        None,
    )
    .await;
    r.call(
        "DELETE /api/v1/operational-webhook/endpoint/{ep}",
        "DELETE",
        &op,
        None,
    )
    .await;

    // App portal links.
    r.call(
        "POST /api/v1/auth/app-portal-access/{app}",
        "POST",
        "/api/v1/auth/app-portal-access/jane",
        Some(json!({"sessionId": "s1"})),
    )
    .await;
    r.call(
        "POST /api/v1/auth/app/{app}/expire-all",
        "POST",
        "/api/v1/auth/app/jane/expire-all",
        Some(json!({"sessionIds": ["s1"]})),
    )
    .await;

    // Deletions last.
    r.call("DELETE /api/v1/app/{app}/endpoint/{ep}", "DELETE", &e, None)
        .await;
    r.call(
        "DELETE /labels/{uuid}/{labelset}/",
        "DELETE",
        &format!("/labels/{uuid}/ground-truth/"),
        None,
    )
    .await;
    r.call(
        "DELETE /samples/{uuid}/",
        "DELETE",
        &format!("/samples/{uuid}/"),
        None,
    )
    .await;
    r.call(
        "DELETE /datasets/{owner}/{name}/samples_bulk/",
        "DELETE",
        &format!("{ds}/samples_bulk/"),
        Some(json!({"uuids": []})),
    )
    .await;
    r.call(
        "DELETE /datasets/{owner}/{name}/",
        "DELETE",
        &format!("{ds}/"),
        None,
    )
    .await;
    r.call(
        "DELETE /api/v1/app/{app}",
        "DELETE",
        "/api/v1/app/jane",
        None,
    )
    .await;

    let got = Value::Array(r.calls);
    let path = snapshot_path();
    if std::env::var_os("DATAHOOKS_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&got).unwrap();
        std::fs::write(&path, text + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            g, w,
            "answer of {} changed (if on purpose: DATAHOOKS_UPDATE_SNAPSHOTS=1, review the diff)",
            w["call"]
        );
    }
    assert_eq!(got.len(), want.len(), "number of pinned calls changed");
}
