//! Issues and their replies.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use datahooks_domain::access::{self, Access, Action};
use datahooks_domain::inputs::{comment_text, IssueInput};
use datahooks_domain::model::Issue;
use datahooks_store::IssueRef;

use super::dataset;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody};
use crate::routes::ApiRouter;
use crate::schema::platform::{CommentIn, IssueIn};
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/datasets/{owner}/{name}/issues/",
        "Issues of a dataset, newest first",
        list,
    )
    .returns_list::<Issue>(200)
    .route(
        "POST",
        "/samples/{uuid}/issues/",
        "Raises an issue on a sample",
        create,
    )
    .body::<IssueIn>()
    .returns::<Issue>(201)
    .route(
        "GET",
        "/samples/{uuid}/issues/",
        "Issues of a sample",
        of_sample,
    )
    .returns_list::<Issue>(200)
    // Not served: `GET /datasets/{sample_uuid}/issues/`, the path the SDK's buggy
    // `Sample.get_issues()` calls. It would shadow `/datasets/{owner}/{name}/` for a dataset
    // named "issues".
    .route("GET", "/issues/{uuid}/", "An issue", get)
    .returns::<Issue>(200)
    .route(
        "PATCH",
        "/issues/{uuid}/",
        "Changes an issue (description, status, anchor)",
        update,
    )
    .body::<IssueIn>()
    .returns::<Issue>(200)
    .route("DELETE", "/issues/{uuid}/", "Deletes an issue", delete)
    .no_content()
    .route(
        "POST",
        "/issues/{uuid}/comments/",
        "Replies to an issue (`{text}`)",
        comment,
    )
    .body::<CommentIn>()
    .returns::<Issue>(201)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Issue>>> {
    let (ds, _) = dataset(&state, &caller, &owner, &name).await?;
    Ok(Json(state.store.list_issues(&ds).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Issue>)> {
    if uuid::Uuid::parse_str(&uuid).is_err() {
        return Err(ApiError::not_found());
    }
    let (s, access) = state.store.sample_access(caller.0.id, &uuid).await?;
    access::require(access, Action::Label)?;
    let input = IssueInput::parse_new(body)?;
    let issue = state.store.create_issue(&s, input, &caller.0.name).await?;
    Ok((StatusCode::CREATED, Json(issue)))
}

async fn issue(state: &AppState, caller: &Caller, uuid: &str) -> ApiResult<(IssueRef, Access)> {
    if uuid::Uuid::parse_str(uuid).is_err() {
        return Err(ApiError::not_found());
    }
    Ok(state.store.issue_access(caller.0.id, uuid).await?)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Issue>> {
    let (i, _) = issue(&state, &caller, &uuid).await?;
    Ok(Json(state.store.get_issue(&i).await?))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Issue>> {
    let (i, access) = issue(&state, &caller, &uuid).await?;
    access::require_can_edit_issue(access, i.created_by == caller.0.name)?;
    let input = IssueInput::parse_patch(body)?;
    Ok(Json(
        state.store.update_issue(&i, input, &caller.0.name).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
) -> ApiResult<StatusCode> {
    let (i, access) = issue(&state, &caller, &uuid).await?;
    access::require(access, Action::Manage)?;
    state.store.delete_issue(&i).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn comment(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Issue>)> {
    let (i, access) = issue(&state, &caller, &uuid).await?;
    access::require(access, Action::Label)?;
    let text = comment_text(body)?;
    let issue = state.store.add_comment(&i, &text, &caller.0.name).await?;
    Ok((StatusCode::CREATED, Json(issue)))
}

async fn of_sample(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Vec<Issue>>> {
    if uuid::Uuid::parse_str(&uuid).is_err() {
        return Err(ApiError::not_found());
    }
    let (s, _) = state.store.sample_access(caller.0.id, &uuid).await?;
    let all = state.store.list_issues(&s.dataset).await?;
    Ok(Json(
        all.into_iter()
            .filter(|i| i.sample_uuid == s.uuid)
            .collect(),
    ))
}
