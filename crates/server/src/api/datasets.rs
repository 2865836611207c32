//! Datasets, collaborators, labelsets, workunits.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{Map, Value};

use datahooks_domain::access::{self, Action};
use datahooks_domain::inputs::{self, object, opt_str};
use datahooks_domain::model::{Collaborator, Dataset, Labelset, Role};
use datahooks_domain::settings::DatasetSettings;
use datahooks_store::{Account, CloneSpec};

use super::{dataset, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryMap};
use crate::routes::ApiRouter;
use crate::routes::PAGE;
use crate::schema::platform::{
    CollaboratorIn, DatasetCloneIn, DatasetIn, DatasetSettingsIn, LabelsetIn,
};
use crate::state::AppState;

type DsPath = Path<(String, String)>;
type DsItemPath = Path<(String, String, String)>;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/user/datasets/",
        "Datasets of the authenticated user",
        list_mine,
    )
    .query(PAGE)
    .returns_list::<Dataset>(200)
    .route(
        "POST",
        "/user/datasets/",
        "Creates a dataset owned by the authenticated user",
        create_mine,
    )
    .body::<DatasetIn>()
    .returns::<Dataset>(201)
    .route(
        "GET",
        "/users/{user}/datasets/",
        "Datasets of an account that the caller may see",
        list_of,
    )
    .query(PAGE)
    .returns_list::<Dataset>(200)
    .route(
        "GET",
        "/organizations/{org}/datasets/",
        "Datasets of an organization that the caller may see",
        list_of,
    )
    .query(PAGE)
    .returns_list::<Dataset>(200)
    .route(
        "POST",
        "/organizations/{org}/datasets/",
        "Creates a dataset owned by an organization",
        create_org,
    )
    .body::<DatasetIn>()
    .returns::<Dataset>(201)
    .route("GET", "/datasets/{owner}/{name}/", "A dataset", get)
    .returns::<Dataset>(200)
    .route(
        "PATCH",
        "/datasets/{owner}/{name}/",
        "Changes dataset settings",
        update,
    )
    .body::<DatasetSettingsIn>()
    .returns::<Dataset>(200)
    .route(
        "DELETE",
        "/datasets/{owner}/{name}/",
        "Deletes a dataset and everything in it",
        delete,
    )
    .no_content()
    .route(
        "POST",
        "/datasets/{owner}/{name}/clone/",
        "Clones a dataset",
        clone,
    )
    .body::<DatasetCloneIn>()
    .returns::<Dataset>(201)
    .route(
        "POST",
        "/datasets/{owner}/{name}/collaborators/",
        "Adds a collaborator",
        add_collaborator,
    )
    .body::<CollaboratorIn>()
    .returns::<Collaborator>(201)
    .route(
        "GET",
        "/datasets/{owner}/{name}/collaborators/{user}",
        "A collaborator",
        get_collaborator,
    )
    .returns::<Collaborator>(200)
    .route(
        "PATCH",
        "/datasets/{owner}/{name}/collaborators/{user}",
        "Changes a collaborator's role",
        update_collaborator,
    )
    .body::<CollaboratorIn>()
    .returns::<Collaborator>(200)
    .route(
        "DELETE",
        "/datasets/{owner}/{name}/collaborators/{user}",
        "Removes a collaborator",
        delete_collaborator,
    )
    .no_content()
    .route(
        "GET",
        "/datasets/{owner}/{name}/labelsets/",
        "Labelsets of a dataset",
        list_labelsets,
    )
    .returns_list::<Labelset>(200)
    .route(
        "POST",
        "/datasets/{owner}/{name}/labelsets/",
        "Adds a labelset",
        add_labelset,
    )
    .body::<LabelsetIn>()
    .returns::<Labelset>(201)
    .route(
        "GET",
        "/datasets/{owner}/{name}/labelsets/{labelset}/",
        "A labelset",
        get_labelset,
    )
    .returns::<Labelset>(200)
    .route(
        "DELETE",
        "/datasets/{owner}/{name}/labelsets/{labelset}/",
        "Deletes a labelset and its labels",
        delete_labelset,
    )
    .no_content()
    .route(
        "GET",
        "/datasets/{owner}/{name}/workunits/",
        "Work units (none are recorded by datahooks)",
        workunits,
    )
}

async fn list_mine(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> ApiResult<Json<Vec<Dataset>>> {
    let page = page(&q)?;
    Ok(Json(
        state
            .store
            .list_datasets(caller.0.id, &caller.0.name, page)
            .await?,
    ))
}

async fn list_of(
    State(state): State<AppState>,
    caller: Caller,
    Path(owner): Path<String>,
    q: QueryMap,
) -> ApiResult<Json<Vec<Dataset>>> {
    let page = page(&q)?;
    Ok(Json(
        state.store.list_datasets(caller.0.id, &owner, page).await?,
    ))
}

/// Parses a create body: `name` plus any settings over the defaults.
fn new_dataset(body: Value) -> ApiResult<(String, DatasetSettings)> {
    let m = object(body)?;
    let name = inputs::req_str(&m, "name")?;
    let name = datahooks_domain::names::dataset_name(&name)?;
    let settings = DatasetSettings::default().patched(&m)?;
    Ok((name, settings))
}

async fn create_mine(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    let (name, settings) = new_dataset(body)?;
    let ds = state
        .store
        .create_dataset(caller.0.id, &name, settings)
        .await?;
    Ok((StatusCode::CREATED, Json(ds)))
}

/// The organization `org` if the caller may create datasets in it (its admins and managers).
async fn org_for_create(state: &AppState, caller: &Caller, org: &str) -> ApiResult<Account> {
    let account = state.store.account(org).await?;
    if !account.is_org {
        return Err(ApiError::not_found());
    }
    match state.store.org_role(account.id, caller.0.id).await? {
        Some(Role::Admin) | Some(Role::Manager) => Ok(account),
        Some(_) => Err(ApiError::forbidden()),
        None => Err(ApiError::not_found()),
    }
}

async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    let org = org_for_create(&state, &caller, &org).await?;
    let (name, settings) = new_dataset(body)?;
    let ds = state.store.create_dataset(org.id, &name, settings).await?;
    Ok((StatusCode::CREATED, Json(ds)))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
) -> ApiResult<Json<Dataset>> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    Ok(Json(state.store.get_dataset(&ds, access).await?))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Dataset>> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    let patch = object(body)?;
    let mut updated = state.store.update_dataset(&ds, patch).await?;
    updated.role = access.role_name().map(str::to_owned);
    Ok(Json(updated))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
) -> ApiResult<StatusCode> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Delete)?;
    state.store.delete_dataset(&ds).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn clone(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    // Public datasets may be cloned by anyone who sees them; private ones by their admins.
    access::require(
        access,
        if ds.public {
            Action::Clone
        } else {
            Action::Administer
        },
    )?;
    let m = object(body)?;
    let new_name = opt_str(&m, "name")?.unwrap_or_else(|| format!("{name}-clone"));
    let owner_id = match opt_str(&m, "owner")? {
        Some(org) if org != caller.0.name => org_for_create(&state, &caller, &org).await?.id,
        _ => caller.0.id,
    };
    let clone_labels = match m.get("clone_labels") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "Field 'clone_labels' must be true or false.",
            ))
        }
    };
    let mut overrides = Map::new();
    for key in ["task_type", "public"] {
        if let Some(v) = m.get(key).filter(|v| !v.is_null()) {
            overrides.insert(key.to_owned(), v.clone());
        }
    }
    let spec = CloneSpec {
        owner_id,
        name: new_name,
        overrides,
        clone_labels,
        actor: caller.0.name.clone(),
    };
    let cloned = state.store.clone_dataset(&ds, spec).await?;
    Ok((StatusCode::CREATED, Json(cloned)))
}

async fn add_collaborator(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Collaborator>)> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    let m = object(body)?;
    let user = inputs::req_str(&m, "user")?;
    let role = inputs::role(&m, Some(Role::Labeler))?;
    access::require_can_grant(access, role)?;
    let c = state.store.add_collaborator(&ds, &user, role).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

async fn get_collaborator(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, user)): DsItemPath,
) -> ApiResult<Json<Collaborator>> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Read)?;
    Ok(Json(state.store.get_collaborator(&ds, &user).await?))
}

async fn update_collaborator(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, user)): DsItemPath,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Collaborator>> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    let role = inputs::role(&object(body)?, None)?;
    access::require(access, Action::ManageCollaborators)?;
    let current = state.store.get_collaborator(&ds, &user).await?;
    access::require_can_manage_member(access, current.role, Some(role))?;
    Ok(Json(
        state.store.update_collaborator(&ds, &user, role).await?,
    ))
}

async fn delete_collaborator(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, user)): DsItemPath,
) -> ApiResult<StatusCode> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    // Anyone may leave a dataset; removing others takes a manager, and nobody removes a
    // collaborator whose role is above their own.
    if user != caller.0.name {
        access::require(access, Action::ManageCollaborators)?;
        let current = state.store.get_collaborator(&ds, &user).await?;
        access::require_can_manage_member(access, current.role, None)?;
    }
    state.store.delete_collaborator(&ds, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_labelsets(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
) -> ApiResult<Json<Vec<Labelset>>> {
    let (ds, _) = dataset(&state, &caller, &owner, &name).await?;
    Ok(Json(state.store.list_labelsets(&ds).await?))
}

async fn get_labelset(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, labelset)): DsItemPath,
) -> ApiResult<Json<Labelset>> {
    let (ds, _) = dataset(&state, &caller, &owner, &name).await?;
    Ok(Json(state.store.get_labelset(&ds, &labelset).await?))
}

async fn add_labelset(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Labelset>)> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    let m = object(body)?;
    let ls_name = inputs::req_str(&m, "name")?;
    let description = opt_str(&m, "description")?.unwrap_or_default();
    let ls = state
        .store
        .add_labelset(&ds, &ls_name, &description)
        .await?;
    Ok((StatusCode::CREATED, Json(ls)))
}

async fn delete_labelset(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, labelset)): DsItemPath,
) -> ApiResult<StatusCode> {
    let (ds, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Administer)?;
    state.store.delete_labelset(&ds, &labelset).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn workunits(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): DsPath,
    q: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let (_, access) = dataset(&state, &caller, &owner, &name).await?;
    access::require(access, Action::Read)?;
    let page = page(&q)?;
    if page.page > 1 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_page",
            "Invalid page.",
        ));
    }
    Ok(Json(Vec::new()))
}
