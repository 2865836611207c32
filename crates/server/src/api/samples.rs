//! Samples and labels.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use datahooks_domain::access::{self, Action};
use datahooks_domain::inputs::{object, LabelInput, NewSample, SamplePatch};
use datahooks_domain::model::{Label, LabelStatus, Sample, GROUND_TRUTH};
use datahooks_store::{SampleQuery, SampleRef, SampleSort};

use super::{dataset, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::{ApiRouter, SAMPLE_LIST};
use crate::schema::platform::{DeletedCount, LabelIn, SampleIn, SamplePatchIn, SamplesDeleteIn};
use crate::state::AppState;

/// Most samples one bulk call may add or delete.
const BULK_MAX: usize = 1000;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/datasets/{owner}/{name}/samples/",
        "Samples of a dataset: filters, sort, pages",
        list,
    )
    .query(SAMPLE_LIST)
    .returns_list::<Sample>(200)
    .route(
        "POST",
        "/datasets/{owner}/{name}/samples/",
        "Adds a sample",
        create,
    )
    .body::<SampleIn>()
    .returns::<Sample>(201)
    .route(
        "POST",
        "/datasets/{owner}/{name}/samples_bulk/",
        "Adds samples; existing names are returned unchanged",
        create_bulk,
    )
    .body_list::<SampleIn>()
    .returns_list::<Sample>(201)
    .route(
        "DELETE",
        "/datasets/{owner}/{name}/samples_bulk/",
        "Deletes samples by id, atomically",
        delete_bulk,
    )
    .body::<SamplesDeleteIn>()
    .returns::<DeletedCount>(200)
    .route(
        "GET",
        "/samples/{uuid}/",
        "A sample (with its label when `labelset` is given)",
        get,
    )
    .returns::<Sample>(200)
    .route("PATCH", "/samples/{uuid}/", "Changes a sample", update)
    .body::<SamplePatchIn>()
    .returns::<Sample>(200)
    .route("DELETE", "/samples/{uuid}/", "Deletes a sample", delete)
    .no_content()
    .route(
        "GET",
        "/labels/{uuid}/{labelset}/",
        "A sample's label in a labelset",
        get_label,
    )
    .returns::<Label>(200)
    .route(
        "PUT",
        "/labels/{uuid}/{labelset}/",
        "Creates or replaces a label",
        put_label,
    )
    .body::<LabelIn>()
    .returns::<Label>(200)
    .route(
        "PATCH",
        "/labels/{uuid}/{labelset}/",
        "Changes a label",
        patch_label,
    )
    .body::<LabelIn>()
    .returns::<Label>(200)
    .route(
        "DELETE",
        "/labels/{uuid}/{labelset}/",
        "Deletes a label",
        delete_label,
    )
    .no_content()
}

fn sort_of(s: &str) -> ApiResult<(SampleSort, bool)> {
    let (desc, key) = match s.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, s),
    };
    let sort = match key {
        "" | "name" => SampleSort::Name,
        "created_at" | "created" => SampleSort::CreatedAt,
        "priority" => SampleSort::Priority,
        "updated_at" => SampleSort::UpdatedAt,
        "gt_label__updated_at" => SampleSort::GtLabelUpdatedAt,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("Cannot sort by {key:?}: use name, created_at, priority, updated_at or gt_label__updated_at, with '-' for descending."),
            ))
        }
    };
    Ok((sort, desc))
}

/// The SDK sends `labelset=X?include_signed_urls=1` when it means two parameters.
fn labelset_param(q: &QueryMap) -> Option<String> {
    q.get("labelset")
        .map(|l| l.split('?').next().unwrap_or("").to_owned())
        .filter(|l| !l.is_empty())
}

/// Reads the sample list's query: labelset, `filters=k:v,…`, `label_status=A,B`, `sort`,
/// `name__contains`, pages. Pure, so it is property-tested with any query text.
pub(crate) fn list_query(q: &QueryMap) -> ApiResult<SampleQuery> {
    let labelset = labelset_param(q);
    let metadata = match q.get("filters") {
        Some(f) if !f.is_empty() => f
            .split(',')
            .map(|pair| {
                pair.split_once(':')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("Filter {pair:?} must be key:value."),
                        )
                    })
            })
            .collect::<ApiResult<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let label_status = match q.get("label_status") {
        Some(s) if !s.is_empty() => s
            .split(',')
            .map(LabelStatus::parse)
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    let (sort, descending) = sort_of(q.get("sort").unwrap_or("name"))?;
    Ok(SampleQuery {
        page: page(q)?,
        include_label: labelset.as_ref().map(|_| q.flag("include_full_label")),
        labelset: labelset.unwrap_or_else(|| GROUND_TRUTH.to_owned()),
        name_contains: q
            .get("name__contains")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        metadata,
        label_status,
        sort,
        descending,
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Json<Vec<Sample>>> {
    let (ds, _) = dataset(&state, &caller, &owner, &name).await?;
    let query = list_query(&q)?;
    Ok(Json(state.store.list_samples(&ds, &query).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Sample>)> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    let sample = NewSample::parse(body)?;
    let mut created = state
        .store
        .create_samples(&ds, vec![sample], &caller.0.name, false)
        .await?;
    let one = created.pop().ok_or_else(ApiError::not_found)?;
    Ok((StatusCode::CREATED, Json(one)))
}

async fn create_bulk(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Vec<Sample>>)> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    let samples = NewSample::parse_many(body, BULK_MAX)?;
    let created = state
        .store
        .create_samples(&ds, samples, &caller.0.name, true)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn delete_bulk(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<DeletedCount>> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    let m = object(body)?;
    let uuids = match m.get("uuids") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::bad_request("invalid_field", "Field 'uuids' must be a list of strings.")
            })?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "Field 'uuids' must be a list of sample ids.",
            ))
        }
    };
    if uuids.is_empty() || uuids.len() > BULK_MAX {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("Give between 1 and {BULK_MAX} sample ids."),
        ));
    }
    let n = state.store.delete_samples(&ds, &uuids).await?;
    Ok(Json(DeletedCount { deleted_count: n }))
}

/// Finds a sample by id; malformed ids are simply not found.
async fn sample(
    state: &AppState,
    caller: &Caller,
    uuid: &str,
) -> ApiResult<(SampleRef, datahooks_domain::access::Access)> {
    if uuid::Uuid::parse_str(uuid).is_err() {
        return Err(ApiError::not_found());
    }
    Ok(state.store.sample_access(caller.0.id, uuid).await?)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
    q: QueryMap,
) -> ApiResult<Json<Sample>> {
    let (s, _) = sample(&state, &caller, &uuid).await?;
    Ok(Json(
        state
            .store
            .get_sample(&s, labelset_param(&q).as_deref())
            .await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Sample>> {
    let (s, access) = sample(&state, &caller, &uuid).await?;
    access::require(access, Action::Manage)?;
    let patch = SamplePatch::parse(body)?;
    Ok(Json(state.store.update_sample(&s, patch).await?))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
) -> ApiResult<StatusCode> {
    let (s, access) = sample(&state, &caller, &uuid).await?;
    access::require(access, Action::Administer)?;
    state
        .store
        .delete_samples(&s.dataset, std::slice::from_ref(&s.uuid))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_label(
    State(state): State<AppState>,
    caller: Caller,
    Path((uuid, labelset)): Path<(String, String)>,
) -> ApiResult<Json<Label>> {
    let (s, _) = sample(&state, &caller, &uuid).await?;
    Ok(Json(state.store.get_label(&s, &labelset).await?))
}

async fn write_label(
    state: AppState,
    caller: Caller,
    uuid: String,
    labelset: String,
    body: Value,
    replace: bool,
) -> ApiResult<Json<Label>> {
    let (s, access) = sample(&state, &caller, &uuid).await?;
    access::require(access, Action::Label)?;
    let input = LabelInput::parse(body)?;
    Ok(Json(
        state
            .store
            .put_label(&s, &labelset, input, replace, &caller.0.name)
            .await?,
    ))
}

async fn put_label(
    State(state): State<AppState>,
    caller: Caller,
    Path((uuid, labelset)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Label>> {
    write_label(state, caller, uuid, labelset, body, true).await
}

async fn patch_label(
    State(state): State<AppState>,
    caller: Caller,
    Path((uuid, labelset)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Label>> {
    write_label(state, caller, uuid, labelset, body, false).await
}

async fn delete_label(
    State(state): State<AppState>,
    caller: Caller,
    Path((uuid, labelset)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (s, access) = sample(&state, &caller, &uuid).await?;
    access::require(access, Action::Label)?;
    state.store.delete_label(&s, &labelset).await?;
    Ok(StatusCode::NO_CONTENT)
}
