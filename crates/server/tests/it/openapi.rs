//! `/openapi.json`: a complete OpenAPI 3.1 document. Every `$ref` resolves, operation ids are
//! unique, the typed routes declare their bodies, and security schemes and the error body are
//! there; every field of every documented request body is read by its route. (Its validity against the OpenAPI 3.1 schema, and that the answers pinned in
//! `snapshots/wire.json` match the documented schemas, is checked by
//! `tests/e2e/test_openapi.py` with the Python validators.)

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use super::harness::TestApp;

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_complete_and_consistent() {
    let app = TestApp::new().await;
    // The document is public: a client generator fetches it without a key.
    let r = app
        .raw(
            Request::builder()
                .uri("/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.body;
    if let Some(path) = std::env::var_os("DATAHOOKS_DUMP_OPENAPI") {
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Error",
        "HTTPValidationError",
        "ValidationError",
        "Dataset",
        "DatasetIn",
        "Sample",
        "SampleIn",
        "Label",
        "EndpointIn",
        "EndpointOut",
        "ListResponseEndpointOut",
        "MessageOut",
        "ApplicationOut",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 100, "only {} refs", all.len());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["apiKey"]["type"], "apiKey");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");

    let mut ids = HashSet::new();
    let mut untyped = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            assert_eq!(
                op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error"
            );
            // A 422 has Svix's shape, which the svix client parses.
            assert_eq!(
                op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/HTTPValidationError"
            );
            if op.get("x-untyped").is_some() {
                untyped.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    // The routes left untyped, listed so that a new one is a decision: work units (always
    // empty here, their shape unknown).
    untyped.sort();
    assert_eq!(
        untyped,
        ["GET /datasets/{owner}/{name}/workunits/"],
        "untyped routes changed: declare a new route's bodies next to it (`.body::<T>()`, \
         `.returns::<T>(status)`; ARCHITECTURE.md, \"The typed API and its document\"), or \
         `.returns_media(200, type)` if it is not JSON), or list it here"
    );
    // Files behind unguessable links need no key; the event stream is text.
    let file = &doc["paths"]["/assets/{uuid}/{filename}"]["get"];
    assert_eq!(file["security"], serde_json::json!([]));
    let stream = &doc["paths"]["/api/v1/app/{app}/stream"]["get"];
    assert!(stream["responses"]["200"]["content"]["text/event-stream"].is_object());
    let create = &doc["paths"]["/api/v1/app/{app}/endpoint"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/EndpointIn"
    );
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/EndpointOut"
    );
}

/// Every field a documented request body names is accepted by the route's parser: each `…In`
/// struct, filled in completely, goes to its route and succeeds. (The parsers, not the structs,
/// read the bodies; this keeps the two from drifting apart.)
#[tokio::test]
async fn every_documented_request_field_is_accepted() {
    use datahooks_domain::model::{Category, IssueStatus, LabelStatus, Role, TaskType};
    use datahooks_server::schema::platform::*;
    use datahooks_server::schema::svix::*;
    use serde_json::json;

    let app = TestApp::new().await;
    let key = app.user("jane").await;
    app.user("bob").await;
    let obj = |v: Value| v.as_object().unwrap().clone();
    let call = |method: &'static str, path: String, body: Value| {
        let (app, key) = (&app, key.clone());
        async move {
            let r = app
                .call(method, &path, &key, (!body.is_null()).then(|| body.clone()))
                .await;
            assert!(
                r.status.is_success(),
                "{method} {path} {body}: {} {}",
                r.status,
                r.body
            );
            r.body
        }
    };
    let settings = DatasetSettingsIn {
        description: Some("Roses".into()),
        task_type: Some(TaskType::Vector),
        task_attributes: Some(obj(json!({"format_version": "0.1",
            "categories": [{"id": 1, "name": "flower"}]}))),
        category: Some(Category::Garden),
        public: Some(false),
        readme: Some("Read me".into()),
        archived: Some(false),
        metadata: Some(obj(json!({"k": "v"}))),
        labeling_inactivity_timeout_seconds: Some(300),
        enable_skip_labeling: Some(true),
        enable_skip_reviewing: Some(true),
        enable_ratings: Some(true),
    };
    let ds = DatasetIn {
        name: "flowers".into(),
        settings,
    };
    let r = call("POST", "/user/datasets/".into(), body(&ds)).await;
    echoed(&body(&ds), &r, &[]);
    let r = call(
        "PATCH",
        "/datasets/jane/flowers/".into(),
        body(&ds.settings),
    )
    .await;
    echoed(&body(&ds.settings), &r, &[]);
    let collab = CollaboratorIn {
        user: Some("bob".into()),
        role: Some(Role::Reviewer),
    };
    let r = call(
        "POST",
        "/datasets/jane/flowers/collaborators/".into(),
        body(&collab),
    )
    .await;
    echoed(&body(&collab), &r, &["user"]);
    assert_eq!(r["user"]["username"], "bob");
    let labelset = LabelsetIn {
        name: "model".into(),
        description: Some("Predictions".into()),
    };
    let r = call(
        "POST",
        "/datasets/jane/flowers/labelsets/".into(),
        body(&labelset),
    )
    .await;
    echoed(&body(&labelset), &r, &[]);
    let sample = SampleIn {
        name: "a.png".into(),
        attributes: Some(obj(json!({"image": {"url": "https://example.com/a.png"}}))),
        metadata: Some(obj(json!({"weather": "sunny"}))),
        priority: Some(2.0),
        readme: Some("look".into()),
        assigned_labeler: Some("jane".into()),
        assigned_reviewer: Some("bob".into()),
    };
    let s = call(
        "POST",
        "/datasets/jane/flowers/samples/".into(),
        body(&sample),
    )
    .await;
    echoed(&body(&sample), &s, &[]);
    let uuid = s["uuid"].as_str().unwrap().to_owned();
    let patch = SamplePatchIn {
        name: Some("b.png".into()),
        attributes: Some(obj(json!({"image": {"url": "https://example.com/b.png"}}))),
        metadata: Some(obj(json!({"weather": "rain"}))),
        priority: Some(1.0),
        readme: Some("again".into()),
        assigned_labeler: Some("jane".into()),
        assigned_reviewer: Some("bob".into()),
    };
    let r = call("PATCH", format!("/samples/{uuid}/"), body(&patch)).await;
    echoed(&body(&patch), &r, &[]);
    let label = LabelIn {
        attributes: Some(obj(json!({"format_version": "0.1", "annotations": []}))),
        label_status: Some(LabelStatus::Labeled),
        score: Some(0.5),
    };
    let r = call("PUT", format!("/labels/{uuid}/ground-truth/"), body(&label)).await;
    echoed(&body(&label), &r, &[]);
    call(
        "PATCH",
        format!("/labels/{uuid}/ground-truth/"),
        body(&label),
    )
    .await;
    let issue = IssueIn {
        description: Some("Blurry".into()),
        status: Some(IssueStatus::Open),
        anchor: Some(obj(json!({"type": "point", "coordinates": [1, 2]}))),
    };
    let i = call("POST", format!("/samples/{uuid}/issues/"), body(&issue)).await;
    echoed(&body(&issue), &i, &[]);
    let issue_id = i["uuid"].as_str().unwrap().to_owned();
    call("PATCH", format!("/issues/{issue_id}/"), body(&issue)).await;
    let comment = CommentIn {
        text: "Agreed".into(),
    };
    let r = call(
        "POST",
        format!("/issues/{issue_id}/comments/"),
        body(&comment),
    )
    .await;
    assert_eq!(r["comments"][0]["text"], "Agreed");
    let release = ReleaseIn {
        name: "v1".into(),
        description: Some("first".into()),
    };
    let r = call(
        "POST",
        "/datasets/jane/flowers/releases/".into(),
        body(&release),
    )
    .await;
    echoed(&body(&release), &r, &[]);
    let clone = DatasetCloneIn {
        name: Some("flowers-copy".into()),
        owner: Some("jane".into()),
        clone_labels: Some(true),
    };
    let r = call("POST", "/datasets/jane/flowers/clone/".into(), body(&clone)).await;
    assert_eq!(r["full_name"], "jane/flowers-copy");
    let asset = AssetIn {
        filename: "a.png".into(),
    };
    call("POST", "/assets/".into(), body(&asset)).await;

    let application = ApplicationIn {
        uid: Some("jane".into()),
        name: Some("Jane's hooks".into()),
        throttle_rate: Some(10),
        rate_limit: Some(10),
        metadata: Some(obj(json!({"team": "x"}))),
    };
    let r = call("POST", "/api/v1/app".into(), body(&application)).await;
    // `rateLimit` is an older name of `throttleRate`, read but not answered.
    echoed(&body(&application), &r, &["rateLimit"]);
    call("PUT", "/api/v1/app/jane".into(), body(&application)).await;
    call("PATCH", "/api/v1/app/jane".into(), body(&application)).await;
    let endpoint = EndpointIn {
        url: "http://127.0.0.1:9/hook".into(),
        uid: Some("mine".into()),
        description: Some("mine".into()),
        version: Some(2),
        filter_types: Some(vec!["sample.created".into()]),
        event_types: Some(vec!["sample.created".into()]),
        channels: Some(vec!["jane/flowers".into()]),
        disabled: Some(false),
        throttle_rate: Some(5),
        rate_limit: Some(5),
        metadata: Some(obj(json!({"a": "b"}))),
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        headers: Some(obj(json!({"X-Team": "a"}))),
    };
    let ep = call("POST", "/api/v1/app/jane/endpoint".into(), body(&endpoint)).await;
    echoed(&body(&endpoint), &ep, &["secret", "headers"]);
    let e = format!("/api/v1/app/jane/endpoint/{}", ep["id"].as_str().unwrap());
    let r = call("GET", format!("{e}/secret"), Value::Null).await;
    assert_eq!(r["key"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let r = call("GET", format!("{e}/headers"), Value::Null).await;
    assert_eq!(r["headers"], json!({"x-team": "a"}));
    let update = EndpointIn {
        secret: None,
        headers: None,
        ..endpoint
    };
    call("PUT", e.clone(), body(&update)).await;
    call("PATCH", e.clone(), body(&update)).await;
    let headers = EndpointHeadersIn {
        headers: obj(json!({"X-Other": "b"})),
        delete_headers: Some(vec!["x-team".into()]),
    };
    call("PATCH", format!("{e}/headers"), body(&headers)).await;
    let r = call("GET", format!("{e}/headers"), Value::Null).await;
    assert_eq!(r["headers"], json!({"x-other": "b"}));
    let rotate = EndpointSecretRotateIn {
        key: Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into()),
        grace_period_seconds: Some(60),
    };
    let r = call("POST", format!("{e}/secret/rotate"), body(&rotate)).await;
    assert_eq!(r["key"], "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    let example = EventExampleIn {
        event_type: "sample.created".into(),
    };
    call("POST", format!("{e}/send-example"), body(&example)).await;
    let window = WindowIn {
        since: datahooks_domain::time::format(chrono::Utc::now() - chrono::Duration::days(1)),
        until: Some(datahooks_domain::time::format(chrono::Utc::now())),
    };
    call("POST", format!("{e}/recover"), body(&window)).await;
    call("POST", format!("{e}/replay-missing"), body(&window)).await;
    let message = MessageIn {
        event_type: "sample.created".into(),
        payload: obj(json!({"hello": "world"})),
        event_id: Some("evt-1".into()),
        channels: Some(vec!["jane/flowers".into()]),
    };
    let r = call("POST", "/api/v1/app/jane/msg".into(), body(&message)).await;
    echoed(&body(&message), &r, &[]);
    let event_type = EventTypeIn {
        name: "invoice.paid".into(),
        description: "An invoice was paid".into(),
        archived: Some(false),
        deprecated: Some(true),
        schemas: Some(obj(json!({"1": {"type": "object"}}))),
        group_name: Some("billing".into()),
        feature_flags: Some(vec!["beta".into()]),
    };
    let r = call("POST", "/api/v1/event-type".into(), body(&event_type)).await;
    echoed(&body(&event_type), &r, &[]);
    let upsert = EventTypeUpsertIn {
        description: Some("An invoice was settled".into()),
        archived: Some(false),
        deprecated: Some(false),
        schemas: Some(obj(json!({"1": {"type": "object", "required": ["id"]}}))),
        group_name: Some("payments".into()),
        feature_flags: Some(vec!["ga".into()]),
    };
    let r = call(
        "PUT",
        "/api/v1/event-type/invoice.paid".into(),
        body(&upsert),
    )
    .await;
    echoed(&body(&upsert), &r, &[]);
    let patch = EventTypeUpsertIn {
        description: Some("Paid".into()),
        archived: Some(true),
        deprecated: Some(true),
        schemas: Some(obj(json!({"2": {"type": "object"}}))),
        group_name: Some("money".into()),
        feature_flags: Some(vec!["beta".into()]),
    };
    let r = call(
        "PATCH",
        "/api/v1/event-type/invoice.paid".into(),
        body(&patch),
    )
    .await;
    echoed(&body(&patch), &r, &[]);
    let op = OperationalWebhookEndpointIn {
        url: "http://127.0.0.1:9/ops".into(),
        uid: Some("ops".into()),
        description: Some("ops".into()),
        event_types: Some(vec!["endpoint.disabled".into()]),
        filter_types: Some(vec!["endpoint.disabled".into()]),
        disabled: Some(false),
        throttle_rate: Some(3),
        rate_limit: Some(3),
        metadata: Some(obj(json!({"c": "d"}))),
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        headers: Some(obj(json!({"X-Ops": "a"}))),
    };
    let o = call(
        "POST",
        "/api/v1/operational-webhook/endpoint".into(),
        body(&op),
    )
    .await;
    echoed(&body(&op), &o, &["secret", "headers"]);
    let oe = format!(
        "/api/v1/operational-webhook/endpoint/{}",
        o["id"].as_str().unwrap()
    );
    let r = call("GET", format!("{oe}/secret"), Value::Null).await;
    assert_eq!(r["key"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let r = call("GET", format!("{oe}/headers"), Value::Null).await;
    assert_eq!(r["headers"], json!({"x-ops": "a"}));
    let op_update = OperationalWebhookEndpointIn {
        description: Some("ops, renamed".into()),
        secret: None,
        headers: None,
        ..op
    };
    let r = call("PUT", oe.clone(), body(&op_update)).await;
    echoed(&body(&op_update), &r, &[]);
    let headers = EndpointHeadersIn {
        headers: obj(json!({"X-Ops": "b"})),
        delete_headers: None,
    };
    call("PUT", format!("{oe}/headers"), body(&headers)).await;
    let r = call("GET", format!("{oe}/headers"), Value::Null).await;
    assert_eq!(r["headers"], json!({"x-ops": "b"}));
    call("POST", format!("{oe}/secret/rotate"), body(&rotate)).await;
    let r = call("GET", format!("{oe}/secret"), Value::Null).await;
    assert_eq!(r["key"], "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    let access = AppPortalAccessIn {
        expiry: Some(7200),
        session_id: Some("s1".into()),
        read_only: Some(true),
    };
    let r = call(
        "POST",
        "/api/v1/auth/app-portal-access/jane".into(),
        body(&access),
    )
    .await;
    assert!(r["url"]
        .as_str()
        .unwrap()
        .ends_with(r["token"].as_str().unwrap()));
    let expire = ApplicationTokenExpireIn {
        expiry: Some(0),
        session_ids: Some(vec!["s1".into()]),
    };
    call(
        "POST",
        "/api/v1/auth/app/jane/expire-all".into(),
        body(&expire),
    )
    .await;
    let delete = SamplesDeleteIn { uuids: vec![uuid] };
    let r = call(
        "DELETE",
        "/datasets/jane/flowers/samples_bulk/".into(),
        body(&delete),
    )
    .await;
    assert_eq!(r["deleted_count"], 1);
}

/// A request struct as JSON.
fn body<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

/// Each field of the request (but `except`) comes back with the value sent: a field the
/// parser ignored (a wrong name) fails here.
fn echoed(req: &Value, resp: &Value, except: &[&str]) {
    for (k, v) in req.as_object().unwrap() {
        if !except.contains(&k.as_str()) && !v.is_null() {
            assert_eq!(&resp[k], v, "field {k} of {req} came back as {}", resp[k]);
        }
    }
}
