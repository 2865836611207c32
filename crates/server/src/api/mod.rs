//! The platform REST API, shaped as the `segments-ai` SDK calls it (see `docs/API.md`).

pub mod accounts;
pub mod assets;
pub mod datasets;
pub mod issues;
pub mod releases;
pub mod samples;

use datahooks_domain::access::Access;
use datahooks_store::{DatasetRef, Page};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, QueryMap};
use crate::routes::ApiRouter;
use crate::state::AppState;

/// Every platform route.
pub fn router(r: ApiRouter) -> ApiRouter {
    let r = accounts::routes(r.tag("accounts"));
    let r = datasets::routes(r.tag("datasets"));
    let r = samples::routes(r.tag("samples"));
    let r = issues::routes(r.tag("issues"));
    let r = releases::routes(r.tag("releases"));
    assets::routes(r.tag("assets"))
}

/// Finds a dataset the caller may see (404 otherwise).
pub async fn dataset(
    state: &AppState,
    caller: &Caller,
    owner: &str,
    name: &str,
) -> ApiResult<(DatasetRef, Access)> {
    Ok(state.store.dataset_access(caller.0.id, owner, name).await?)
}

/// `page`/`per_page` (1-based; at most 1000 per page). A page below 1 is "Invalid page.".
pub fn page(q: &QueryMap) -> ApiResult<Page> {
    let page = q.int("page")?.unwrap_or(1);
    let per_page = q.int("per_page")?.unwrap_or(1000);
    if page < 1 {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "invalid_page",
            "Invalid page.",
        ));
    }
    if !(1..=1000).contains(&per_page) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "Query parameter 'per_page' must be between 1 and 1000.",
        ));
    }
    Ok(Page { page, per_page })
}
