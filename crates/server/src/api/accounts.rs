//! `/api_status/`, `/user`, `/users/{u}`.

use axum::extract::{Path, State};
use axum::Json;

use datahooks_domain::model::User;

use crate::error::ApiResult;
use crate::extract::Caller;
use crate::routes::ApiRouter;
use crate::schema::platform::ApiStatus;
use crate::state::AppState;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "GET",
        "/api_status/",
        "Checks the API key (the SDK calls it at start-up)",
        api_status,
    )
    .returns::<ApiStatus>(200)
    .route(
        "GET",
        "/user",
        "The authenticated user, with its organizations",
        me,
    )
    .returns::<User>(200)
    .route("GET", "/users/{user}", "A user or organization", user)
    .returns::<User>(200)
}

async fn api_status(_caller: Caller) -> Json<ApiStatus> {
    Json(ApiStatus {
        status: "ok".into(),
    })
}

async fn me(State(state): State<AppState>, Caller(me): Caller) -> ApiResult<Json<User>> {
    Ok(Json(state.store.user_view(&me.name, true).await?))
}

async fn user(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.store.user_view(&name, false).await?))
}
