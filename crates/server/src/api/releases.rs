//! Releases: requested PENDING, built by a background job, served at an unguessable URL.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use datahooks_domain::access::{self, Action};
use datahooks_domain::inputs::{object, opt_str, req_str};
use datahooks_domain::model::Release;

use super::dataset;
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody};
use crate::routes::ApiRouter;
use crate::schema::platform::ReleaseIn;
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/datasets/{owner}/{name}/releases/",
        "Releases of a dataset",
        list,
    )
    .returns_list::<Release>(200)
    .route(
        "POST",
        "/datasets/{owner}/{name}/releases/",
        "Requests a release (PENDING, then SUCCEEDED)",
        create,
    )
    .body::<ReleaseIn>()
    .returns::<Release>(201)
    .route(
        "GET",
        "/datasets/{owner}/{name}/releases/{release}/",
        "A release",
        get,
    )
    .returns::<Release>(200)
    .route(
        "DELETE",
        "/datasets/{owner}/{name}/releases/{release}/",
        "Deletes a release",
        delete,
    )
    .no_content()
    .route(
        "GET",
        "/releases/{token}/{file}",
        "A release file (unauthenticated, unguessable URL)",
        file,
    )
    .returns_media(200, "application/json")
    .public()
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Release>>> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    Ok(Json(state.store.list_releases(&ds).await?))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, release)): Path<(String, String, String)>,
) -> ApiResult<Json<Release>> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    Ok(Json(state.store.get_release(&ds, &release).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Release>)> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    let m = object(body)?;
    let release_name = req_str(&m, "name")?;
    let description = opt_str(&m, "description")?.unwrap_or_default();
    let release = state
        .store
        .create_release(&ds, &release_name, &description)
        .await?;
    // Its build was enqueued with it: a job (`datahooks_webhooks::jobs`) runs it.
    Ok((StatusCode::CREATED, Json(release)))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, release)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    state.store.delete_release(&ds, &release).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn file(
    State(state): State<AppState>,
    Path((token, _file)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let (_, content) = state.store.release_file(&token).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], content))
}
