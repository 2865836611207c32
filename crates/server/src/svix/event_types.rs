//! Event types: the 11 platform ones, read-only, each with a JSON schema and an example
//! payload; and the caller's own custom types (create, get, upsert, patch, delete = archive),
//! with optional JSON schemas. The rules are `datahooks_domain::event_types`.
//!
//! Custom types belong to the user whose API key calls (`event-type` paths name no
//! application), and apply to every application that user manages: to endpoint filters, and
//! to messages (once the user has declared a type, a message must name a known one).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use datahooks_domain::event_types::{self as rules, EventTypeInput};
use datahooks_domain::events::{EventType, API_VERSION};
use datahooks_domain::inputs::{object, req_str};
use datahooks_store::CustomEventType;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::{ApiRouter, SVIX_LIST};
use crate::schema::svix::{
    EventTypeIn, EventTypeOut, EventTypeUpsertIn, ListResponse, ListResponseEventTypeOut,
};
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api/v1/event-type",
        "The 11 event types and your own",
        list_types,
    )
    .query(EVENT_TYPE_LIST)
    .returns::<ListResponseEventTypeOut>(200)
    .route(
        "GET",
        "/api/v1/event-type/{name}",
        "One event type with its schemas",
        get,
    )
    .returns::<EventTypeOut>(200)
    .route(
        "POST",
        "/api/v1/event-type",
        "Creates a custom event type",
        create,
    )
    .body::<EventTypeIn>()
    .returns::<EventTypeOut>(201)
    .route(
        "PUT",
        "/api/v1/event-type/{name}",
        "Creates or replaces a custom event type",
        upsert,
    )
    .body::<EventTypeUpsertIn>()
    .returns::<EventTypeOut>(200)
    .route(
        "PATCH",
        "/api/v1/event-type/{name}",
        "Changes a custom event type",
        patch,
    )
    .body::<EventTypeUpsertIn>()
    .returns::<EventTypeOut>(200)
    .route(
        "DELETE",
        "/api/v1/event-type/{name}",
        "Archives a custom event type (expunge=true deletes it)",
        delete,
    )
    .query(&[("expunge", "true: delete it rather than archive it")])
    .no_content()
}

/// The list's query parameters: a Svix page, and archived types.
const EVENT_TYPE_LIST: &[(&str, &str)] = &[
    SVIX_LIST[0],
    SVIX_LIST[1],
    ("include_archived", "true: archived custom types too"),
];

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

fn type_out(t: EventType) -> EventTypeOut {
    let mut schemas = Map::new();
    schemas.insert("1".into(), schema(t));
    EventTypeOut {
        name: t.as_str().to_owned(),
        description: t.description().to_owned(),
        archived: false,
        deprecated: false,
        schemas: Some(schemas),
        group_name: Some(t.object_kind().to_owned()),
        feature_flag: None,
        feature_flags: None,
        created_at: "2021-08-01T00:00:00.000000+00:00".into(),
        updated_at: "2021-08-01T00:00:00.000000+00:00".into(),
    }
}

/// Svix's `EventTypeOut` of a custom type.
fn custom_out(t: &CustomEventType) -> EventTypeOut {
    let i = &t.input;
    EventTypeOut {
        name: t.name.clone(),
        description: i.description.clone(),
        archived: i.archived,
        deprecated: i.deprecated,
        schemas: i.schemas.clone(),
        group_name: i.group_name.clone(),
        feature_flag: None,
        feature_flags: i.feature_flags.clone(),
        created_at: t.created_at.clone(),
        updated_at: t.updated_at.clone(),
    }
}

/// The names of the caller's custom types an endpoint filter may name (not archived).
pub(crate) async fn usable_custom(state: &AppState, caller: &Caller) -> ApiResult<Vec<String>> {
    Ok(state
        .store
        .list_event_types(caller.0.id, false)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect())
}

/// Refuses a message whose type the caller has not declared, once it declared any (before
/// that, any well-formed name is accepted, as Svix does). 422, as Svix answers a body it
/// cannot take.
pub(crate) async fn check_message_type(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> ApiResult<()> {
    if rules::is_platform(name) {
        return Ok(());
    }
    // One read on the message path: the user's types (usually few), archived ones included.
    let declared = state.store.list_event_types(caller.0.id, true).await?;
    if rules::message_may_name(name, declared.iter().map(|t| (t.name.as_str(), &t.input))) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_event_type",
        rules::unknown_message(name),
    ))
}

/// The 11 platform types cannot be changed: 403 with the reason.
fn writable(name: &str) -> ApiResult<()> {
    if rules::is_platform(name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only",
            format!(
                "{name} is one of the 11 platform event types, which are fixed and cannot be \
                 created, changed or deleted."
            ),
        ));
    }
    rules::check_name(name)?;
    Ok(())
}

async fn list_types(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let archived = q.get("include_archived") == Some("true");
    let mut out: Vec<EventTypeOut> = EventType::ALL.iter().map(|t| type_out(*t)).collect();
    out.extend(
        state
            .store
            .list_event_types(caller.0.id, archived)
            .await?
            .iter()
            .map(custom_out),
    );
    Ok(Json(ListResponse::new(out, None, true)))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    if let Ok(t) = EventType::parse(&name) {
        return Ok(Json(type_out(t)));
    }
    let t = state
        .store
        .event_type(caller.0.id, &name)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(custom_out(&t)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let m = object(body)?;
    let name = req_str(&m, "name")?;
    writable(&name)?;
    let input = rules::parse_new(&m)?;
    let t = state
        .store
        .create_event_type(caller.0.id, &name, input)
        .await?;
    Ok((StatusCode::CREATED, Json(custom_out(&t))))
}

async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<EventTypeOut>> {
    writable(&name)?;
    let input = rules::parse_new(&object(body)?)?;
    let t = state
        .store
        .put_event_type(caller.0.id, &name, input)
        .await?;
    Ok(Json(custom_out(&t)))
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<EventTypeOut>> {
    writable(&name)?;
    let current: EventTypeInput = state
        .store
        .event_type(caller.0.id, &name)
        .await?
        .ok_or_else(ApiError::not_found)?
        .input;
    let input = rules::parse_patch(&object(body)?, &current)?;
    let t = state
        .store
        .put_event_type(caller.0.id, &name, input)
        .await?;
    Ok(Json(custom_out(&t)))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    q: QueryMap,
) -> ApiResult<StatusCode> {
    writable(&name)?;
    let expunge = q.get("expunge") == Some("true");
    state
        .store
        .delete_event_type(caller.0.id, &name, expunge)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
