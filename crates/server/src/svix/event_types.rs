//! The 11 event types, read-only, each with a JSON schema and an example payload.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use datahooks_domain::events::{EventType, API_VERSION};

use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::routes::{ApiRouter, SVIX_LIST};
use crate::schema::svix::{EventTypeOut, ListResponse, ListResponseEventTypeOut};
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api/v1/event-type",
        "The 11 event types",
        list_types,
    )
    .query(SVIX_LIST)
    .returns::<ListResponseEventTypeOut>(200)
    .route(
        "GET",
        "/api/v1/event-type/{name}",
        "One event type with its schema and example",
        get,
    )
    .returns::<EventTypeOut>(200)
    .route(
        "POST",
        "/api/v1/event-type",
        "Refused: the event types are fixed",
        read_only,
    )
}

fn example_object(kind: &str, account: &str) -> Value {
    let ds = format!("{account}/flowers");
    match kind {
        "dataset" => {
            json!({"name": "flowers", "full_name": ds, "description": "", "task_type": "vector",
                            "public": false, "owner": {"username": account}, "samples_count": 1})
        }
        "sample" => json!({"uuid": "00000000-0000-4000-8000-000000000000", "name": "rose.png",
                           "attributes": {"image": {"url": "https://example.com/rose.png"}}, "metadata": {},
                           "dataset_full_name": ds, "dataset": ds}),
        "label" => {
            json!({"sample_uuid": "00000000-0000-4000-8000-000000000000", "sample_name": "rose.png",
                          "labelset": "ground-truth", "label_type": "vector", "label_status": "LABELED",
                          "attributes": {"format_version": "0.1", "annotations": []}})
        }
        "issue" => {
            json!({"uuid": "00000000-0000-4000-8000-000000000001", "description": "Missing petal",
                          "status": "OPEN", "comments": [], "sample_uuid": "00000000-0000-4000-8000-000000000000",
                          "sample_name": "rose.png", "dataset": ds})
        }
        _ => {
            json!({"uuid": "00000000-0000-4000-8000-000000000002", "name": "v1.0", "description": "",
                    "release_type": "JSON", "status": "SUCCEEDED", "attributes": {"url": "https://example.com/release.json"},
                    "samples_count": 1})
        }
    }
}

fn example_text(t: EventType, account: &str) -> String {
    let ds = format!("{account}/flowers");
    match t {
        EventType::DatasetCreated => format!("Dataset {ds} created."),
        EventType::DatasetUpdated => format!("Dataset {ds} updated."),
        EventType::DatasetDeleted => format!("Dataset {ds} deleted."),
        EventType::SampleCreated => format!("Sample rose.png created in dataset {ds}."),
        EventType::SampleUpdated => format!("Sample rose.png updated in dataset {ds}."),
        EventType::SampleDeleted => format!("Sample rose.png deleted in dataset {ds}."),
        EventType::LabelUpdated => format!(
            "Label of sample rose.png in labelset ground-truth set to LABELED in dataset {ds}."
        ),
        EventType::LabelDeleted => {
            format!("Label of sample rose.png in labelset ground-truth deleted in dataset {ds}.")
        }
        EventType::IssueCreated => {
            format!("Issue created on sample rose.png in dataset {ds} by {account}: Missing petal")
        }
        EventType::IssueUpdated => {
            format!("Issue on sample rose.png in dataset {ds} updated (CLOSED) by {account}.")
        }
        EventType::ReleaseCreated => format!("Release v1.0 created in dataset {ds}."),
    }
}

/// An example payload of an event type, marked as a test.
pub fn example_payload(event_type: &str, account: &str) -> ApiResult<Value> {
    let t = EventType::parse(event_type).map_err(|_| {
        ApiError::bad_request(
            "invalid_event_type",
            format!("Unknown event type {event_type:?}."),
        )
    })?;
    Ok(json!({
        "event_type": t.as_str(),
        "created_at": datahooks_domain::time::format(chrono::Utc::now()),
        "api_version": API_VERSION,
        "dataset": format!("{account}/flowers"),
        "object": example_object(t.object_kind(), account),
        "text": format!("[test] {}", example_text(t, account)),
    }))
}

fn schema(t: EventType) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": t.as_str(),
        "description": t.description(),
        "type": "object",
        "required": ["event_type", "created_at", "api_version", "dataset", "object", "text"],
        "properties": {
            "event_type": {"const": t.as_str()},
            "created_at": {"type": "string", "format": "date-time"},
            "api_version": {"const": API_VERSION},
            "dataset": {"type": "string", "description": "owner/name of the dataset"},
            "object": {"type": "object", "description": format!("The {} as the API returns it", t.object_kind())},
            "text": {"type": "string", "description": "One-line summary, fit for Slack"},
        },
        "examples": [example_payload(t.as_str(), "jane").unwrap_or(Value::Null)],
    })
}

/// When the 11 event types came to be (they never change).
const TYPES_CREATED: &str = "2021-08-01T00:00:00.000000+00:00";

fn type_out(t: EventType) -> EventTypeOut {
    let mut schemas = serde_json::Map::new();
    schemas.insert("1".into(), schema(t));
    EventTypeOut {
        name: t.as_str().into(),
        description: t.description().into(),
        archived: false,
        deprecated: false,
        schemas,
        group_name: t.object_kind().into(),
        feature_flag: None,
        feature_flags: None,
        created_at: TYPES_CREATED.into(),
        updated_at: TYPES_CREATED.into(),
    }
}

async fn list_types(_caller: Caller) -> Json<ListResponse<EventTypeOut>> {
    Json(ListResponse::new(
        EventType::ALL.iter().map(|t| type_out(*t)).collect(),
        None,
        true,
    ))
}

async fn get(
    State(_state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    let t = EventType::parse(&name).map_err(|_| ApiError::not_found())?;
    Ok(Json(type_out(t)))
}

async fn read_only(_caller: Caller) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "read_only",
        "The 11 event types are fixed and cannot be changed.",
    )
}
