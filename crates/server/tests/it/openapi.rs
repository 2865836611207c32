//! `/openapi.json`: a complete OpenAPI 3.1 document. Every `$ref` resolves, operation ids are
//! unique, the typed routes declare their bodies, and security schemes and the error body are
//! there. (Its validity against the OpenAPI 3.1 schema, and that the answers pinned in
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
            if op.get("x-untyped").is_some() {
                untyped.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    // The routes left untyped, listed so that a new one is a decision: files and streams
    // (not JSON), and Svix's read-only event-type writes (always 403).
    untyped.sort();
    assert_eq!(
        untyped,
        [
            "GET /api/v1/app/{app}/stream",
            "GET /assets/{uuid}/{filename}",
            "GET /datasets/{owner}/{name}/workunits/",
            "GET /releases/{token}/{file}",
            "POST /api/v1/event-type",
        ],
        "untyped routes changed"
    );
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
