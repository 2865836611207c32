//! The webhook management API under `/api/v1/`, compatible with the `svix` client: camelCase
//! bodies, `{data, iterator, prevIterator, done}` lists, `{code, detail}` errors, and
//! `Idempotency-Key` on POSTs.
//!
//! An application is an account's webhook set-up: its `uid` is the account name and it exists
//! while the account has webhooks enabled. Only the user itself, or an organization's admins,
//! may see or manage it; anyone else gets 404.

pub mod apps;
pub mod auth;
pub mod endpoints;
pub mod event_types;
pub mod idempotency;
pub mod messages;
pub mod operational;
pub mod stream;
pub mod tasks;

use chrono::{DateTime, Utc};

use datahooks_domain::access::can_manage_account;
use datahooks_store::Account;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, QueryMap};
use crate::routes::ApiRouter;
use crate::state::AppState;

/// Every webhook-management route.
pub fn router(r: ApiRouter) -> ApiRouter {
    let r = apps::routes(r.tag("applications"));
    let r = endpoints::routes(r.tag("endpoints"));
    let r = messages::routes(r.tag("messages"));
    let r = stream::routes(r.tag("stream"));
    let r = operational::routes(r.tag("operational webhooks"));
    let r = auth::routes(r.tag("authentication"));
    event_types::routes(r.tag("event types"))
}

/// The application id we show for an account.
pub fn app_id(a: &Account) -> String {
    datahooks_domain::operational::app_id(a.id)
}

/// Finds the account an `{app_id}` names (`app_<n>` or the account name) if the caller manages
/// it; 404 otherwise, so other accounts' set-ups stay invisible.
pub async fn managed_account(state: &AppState, caller: &Caller, app: &str) -> ApiResult<Account> {
    // The caller's own account (the usual case, and the message path's): already read with
    // the key, so no second read.
    if caller.0.name == app || app_id(&caller.0) == app {
        return Ok(caller.0.clone());
    }
    let managed = state.store.managed_accounts(caller.0.id).await?;
    managed
        .into_iter()
        .find(|a| a.name == app || app_id(a) == app)
        .ok_or_else(ApiError::not_found)
}

/// Like [`managed_account`], and the account must have webhooks enabled.
pub async fn app_account(state: &AppState, caller: &Caller, app: &str) -> ApiResult<Account> {
    let a = managed_account(state, caller, app).await?;
    if !a.webhooks_enabled {
        return Err(ApiError::not_found());
    }
    Ok(a)
}

/// Whether `caller` manages `account` (used by the web pages too).
pub async fn may_manage(state: &AppState, caller: &Account, account: &Account) -> ApiResult<bool> {
    let role = if account.is_org {
        state.store.org_role(account.id, caller.id).await?
    } else {
        None
    };
    Ok(can_manage_account(caller.id == account.id, role))
}

/// `limit`: default 50, at most 250.
pub fn limit(q: &QueryMap) -> ApiResult<i64> {
    let l = q.int("limit")?.unwrap_or(50);
    if !(1..=250).contains(&l) {
        return Err(ApiError::validation(
            &["query", "limit"],
            "invalid_limit",
            "limit must be between 1 and 250.",
        ));
    }
    Ok(l)
}

/// A timestamp query parameter or body field (RFC 3339) as unix ms.
pub fn time_ms(s: &str, field: &str) -> ApiResult<i64> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_time",
                format!("'{field}' must be an RFC 3339 timestamp."),
            )
        })
}

/// Unix ms as an RFC 3339 string.
pub fn ms_time(ms: i64) -> String {
    datahooks_domain::time::format(DateTime::from_timestamp_millis(ms).unwrap_or_default())
}
