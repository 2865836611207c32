//! The Svix-compatible API's bodies, named as in Svix's own document (`EndpointOut`,
//! `MessageIn`, `ListResponse…`), camelCase on the wire. The `…Out` structs are what the
//! handlers serialize; the `…In` structs describe what the parsers accept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use datahooks_store::webhooks::{Attempt, Endpoint, Message};
use datahooks_store::{Account, AppSettings};

/// Free-form JSON object.
type Object = Map<String, Value>;

/// Svix's `ApplicationOut`: an account's webhook set-up (`uid` is the account name).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    /// `app_<n>`.
    pub id: String,
    /// The account name.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// Stored and returned (deliveries are throttled per endpoint).
    pub throttle_rate: Option<i64>,
    /// String-to-string metadata.
    #[schema(value_type = Object)]
    pub metadata: Object,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl ApplicationOut {
    /// The application of `a` with settings `s`.
    pub fn new(a: &Account, s: &AppSettings) -> Self {
        ApplicationOut {
            id: super::super::svix::app_id(a),
            uid: a.name.clone(),
            name: s.name.clone(),
            throttle_rate: s.throttle_rate,
            metadata: s.metadata.clone(),
            created_at: a.created_at.clone(),
            updated_at: s.updated_at.clone().unwrap_or_else(|| a.created_at.clone()),
        }
    }
}

/// Svix's `ApplicationIn` (POST, PUT) and `ApplicationPatch` (PATCH: every field optional).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    /// The account name (POST: required unless `name` names the account).
    pub uid: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Messages per second (stored).
    pub throttle_rate: Option<i64>,
    /// Alias of `throttleRate`.
    pub rate_limit: Option<i64>,
    /// String-to-string metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Object>,
}

/// Svix's `EndpointOut`, plus why it is disabled.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    /// `ep_…`.
    pub id: String,
    /// Client-chosen unique id.
    pub uid: Option<String>,
    /// Destination URL.
    pub url: String,
    /// Version number the user gave it.
    pub version: i64,
    /// Description.
    pub description: String,
    /// Subscribed event types (`null`: all).
    pub event_types: Option<Vec<String>>,
    /// Same as `eventTypes` (Svix's name).
    pub filter_types: Option<Vec<String>>,
    /// Datasets (`owner/name`) it is limited to (`null`: all).
    pub channels: Option<Vec<String>>,
    /// Disabled endpoints get no new deliveries; queued ones wait.
    pub disabled: bool,
    /// `manual`, `gone` or `failing`.
    pub disabled_reason: Option<String>,
    /// Messages per second at most.
    pub throttle_rate: Option<i64>,
    /// Same as `throttleRate` (Svix's older name).
    pub rate_limit: Option<i64>,
    /// Free-form metadata.
    #[schema(value_type = Object)]
    pub metadata: Object,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Endpoint> for EndpointOut {
    fn from(e: &Endpoint) -> Self {
        EndpointOut {
            id: e.id.clone(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            version: e.version,
            description: e.description.clone(),
            event_types: e.event_types.clone(),
            filter_types: e.event_types.clone(),
            channels: e.channels.clone(),
            disabled: e.disabled,
            disabled_reason: e.disabled_reason.clone(),
            throttle_rate: e.throttle_rate,
            rate_limit: e.throttle_rate,
            metadata: e.metadata.clone(),
            created_at: e.created_at.clone(),
            updated_at: e.updated_at.clone(),
        }
    }
}

/// Svix's `EndpointIn` (POST, PUT) and `EndpointPatch` (PATCH: every field optional).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    /// Destination URL (http or https; private addresses only when the server allows them).
    pub url: String,
    /// Client-chosen unique id.
    pub uid: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// At least 1.
    pub version: Option<i64>,
    /// Event types to receive (`null`: all).
    pub filter_types: Option<Vec<String>>,
    /// Same as `filterTypes`.
    pub event_types: Option<Vec<String>>,
    /// 1 to 10 datasets (`owner/name`) of the account (`null`: all).
    pub channels: Option<Vec<String>>,
    /// Created disabled.
    pub disabled: Option<bool>,
    /// Messages per second at most.
    pub throttle_rate: Option<i64>,
    /// Same as `throttleRate`.
    pub rate_limit: Option<i64>,
    /// Free-form metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Object>,
    /// Signing secret `whsec_…` (generated when absent; POST only).
    pub secret: Option<String>,
    /// Custom headers sent with each delivery (POST only).
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Object>,
}

/// Svix's `EndpointSecretOut`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointSecretOut {
    /// `whsec_…`.
    pub key: String,
}

/// Svix's `EndpointSecretRotateIn` (the body may also be empty).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    /// The new secret (`whsec_…`; generated when absent).
    pub key: Option<String>,
    /// How long the old secret stays valid, 0 to 604800 (default 86400).
    pub grace_period_seconds: Option<i64>,
}

/// Svix's `EndpointHeadersOut`: sensitive values are redacted.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointHeadersOut {
    /// Header names (lower case) and values.
    #[schema(value_type = Object)]
    pub headers: Object,
    /// Names whose values are shown redacted.
    pub sensitive: Vec<String>,
}

/// Svix's `EndpointHeadersIn` (PUT) and `EndpointHeadersPatchIn` (PATCH).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHeadersIn {
    /// Header names and values.
    #[schema(value_type = Object)]
    pub headers: Object,
    /// PATCH only: names to remove.
    pub delete_headers: Option<Vec<String>>,
}

/// An endpoint's delivery pace (see `datahooks_webhooks::pace`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPace {
    /// `open`, `paused`, `down` or `probing`.
    pub state: String,
    /// End of the pause or time of the next probe (RFC 3339).
    pub until: Option<String>,
    /// Deliveries it may have in flight.
    pub limit: i64,
    /// Send rate learned from 429s, per second.
    pub rate_cap: Option<f64>,
    /// Successful deliveries per second over the last 10 s.
    pub recent_rate: f64,
}

/// Svix's `EndpointStats`: deliveries by status, plus the pace.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointStats {
    /// Delivered.
    pub success: i64,
    /// Waiting for an attempt.
    pub pending: i64,
    /// Being sent.
    pub sending: i64,
    /// Retries exhausted.
    pub fail: i64,
    /// Always 0.
    pub canceled: i64,
    /// The delivery pace.
    pub pace: EndpointPace,
}

/// Attempts by outcome in a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptStats {
    /// Successful attempts.
    pub success: i64,
    /// Failed attempts.
    pub fail: i64,
    /// Always 0.
    pub canceled: i64,
}

/// Svix's `MessageOut`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    /// `msg_…`.
    pub id: String,
    /// Client-given unique id.
    pub event_id: Option<String>,
    /// Event type.
    pub event_type: String,
    /// The payload as sent.
    pub payload: Value,
    /// Channels (`null` when none).
    pub channels: Option<Vec<String>>,
    /// Tags (`null` when none).
    pub tags: Option<Vec<String>>,
    /// RFC 3339.
    pub timestamp: String,
}

impl MessageOut {
    /// The message, its payload parsed (`null` if the stored text is not JSON).
    pub fn new(m: &Message, with_content: bool) -> Self {
        let payload = if with_content {
            serde_json::from_str(&m.payload).unwrap_or(Value::Null)
        } else {
            Value::Object(Map::new())
        };
        MessageOut {
            id: m.id.clone(),
            event_id: m.event_id.clone(),
            event_type: m.event_type.clone(),
            payload,
            channels: (!m.channels.is_empty()).then(|| m.channels.clone()),
            tags: (!m.tags.is_empty()).then(|| m.tags.clone()),
            timestamp: m.created_at.clone(),
        }
    }
}

/// Svix's `MessageIn`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    /// Any event type name.
    pub event_type: String,
    /// The JSON object to deliver.
    #[schema(value_type = Object)]
    pub payload: Object,
    /// Unique per application: a second message with it is refused (409).
    pub event_id: Option<String>,
    /// Only endpoints listening on one of these channels receive it.
    pub channels: Option<Vec<String>>,
}

/// A delivery's state, beside a message or an endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryState {
    /// 0 success, 1 pending, 2 fail, 3 sending.
    pub status: i64,
    /// `success`, `pending`, `fail` or `sending`.
    pub status_text: String,
    /// RFC 3339, when pending.
    pub next_attempt: Option<String>,
}

/// Svix's `EndpointMessageOut`: a message with its delivery to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointMessageOut {
    /// The message.
    #[serde(flatten)]
    pub message: MessageOut,
    /// The delivery's status (absent if the message has no delivery to the endpoint).
    #[serde(rename = "status", skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// The delivery's `statusText` (absent likewise).
    #[serde(rename = "statusText", skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// When it is next tried (absent likewise; `null` when not pending).
    #[serde(rename = "nextAttempt", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_attempt: Option<Option<String>>,
}

/// Svix's `MessageEndpointOut`: an endpoint with its delivery of one message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageEndpointOut {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// Its delivery of the message.
    #[serde(flatten)]
    pub delivery: DeliveryState,
}

/// Svix's `MessageAttemptOut`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    /// `atmpt_…`.
    pub id: String,
    /// The message.
    pub msg_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The URL it went to.
    pub url: String,
    /// First 20,000 bytes of the answer, or the error.
    pub response: String,
    /// HTTP status (0 if none).
    pub response_status_code: i64,
    /// Duration in ms.
    pub response_duration_ms: i64,
    /// 0 success, 2 fail.
    pub status: i64,
    /// `success` or `fail`.
    pub status_text: String,
    /// 0 scheduled, 1 manual.
    pub trigger_type: i64,
    /// RFC 3339.
    pub timestamp: String,
    /// The message, with `with_msg=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<MessageOut>,
}

impl From<&Attempt> for MessageAttemptOut {
    fn from(a: &Attempt) -> Self {
        MessageAttemptOut {
            id: a.id.clone(),
            msg_id: a.msg_id.clone(),
            endpoint_id: a.endpoint_id.clone(),
            url: a.url.clone(),
            response: a.response.clone(),
            response_status_code: a.response_status_code,
            response_duration_ms: a.duration_ms,
            status: a.status,
            status_text: a.status_text().to_owned(),
            trigger_type: a.trigger_type,
            timestamp: a.timestamp.clone(),
            msg: None,
        }
    }
}

/// An empty object (`{}`), the answer of a resend.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmptyObject {}

/// `send-example`'s body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    /// One of the 11 event types, or `svix.ping`.
    pub event_type: String,
}

/// Svix's `RecoverIn` / `ReplayIn`: a window of time.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowIn {
    /// RFC 3339 (required).
    pub since: String,
    /// RFC 3339 (default: now).
    pub until: Option<String>,
}

/// A background task's progress.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundTaskData {
    /// Messages sent so far.
    pub messages_sent: i64,
}

/// Svix's `BackgroundTaskOut` (a recover or a replay), also as stored for any node to answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundTaskOut {
    /// `qtask_…`.
    pub id: String,
    /// `running`, `finished` or `failed`.
    pub status: String,
    /// `endpoint.recover` or `endpoint.replay`.
    pub task: String,
    /// Progress.
    pub data: BackgroundTaskData,
    /// RFC 3339.
    pub updated_at: String,
}

/// Svix's `EventTypeOut`: one of the 11 fixed event types, or one of the caller's own.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    /// e.g. `sample.created`.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Archived types take no new messages or filters (platform types: always false).
    pub archived: bool,
    /// Still usable, shown as deprecated (platform types: always false).
    pub deprecated: bool,
    /// JSON Schema of the payload by version (`"1"`); `null` for a custom type without any.
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Object>,
    /// The object kind of a platform type (`dataset`, `sample`, …), or a custom type's group.
    pub group_name: Option<String>,
    /// Always `null`.
    pub feature_flag: Option<String>,
    /// A custom type's feature flags, stored and returned (`null` when none).
    pub feature_flags: Option<Vec<String>>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Svix's `EventTypeIn`: a custom event type (POST). The 11 platform names are refused (403).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    /// 1 to 256 of `[a-zA-Z0-9-_.]`.
    pub name: String,
    /// What it means (required).
    pub description: String,
    /// Archived: no new messages or filters may name it.
    pub archived: Option<bool>,
    /// Deprecated: still usable, shown as such.
    pub deprecated: Option<bool>,
    /// JSON Schemas by version (`{"1": {…}}`).
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Object>,
    /// Group shown with it.
    pub group_name: Option<String>,
    /// Stored and returned.
    pub feature_flags: Option<Vec<String>>,
}

/// Svix's `EventTypeUpsertIn` (PUT: `description` required) and `EventTypePatch` (PATCH:
/// every field optional, `null` clears `schemas`, `groupName`, `featureFlags`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpsertIn {
    /// What it means (required on PUT).
    pub description: Option<String>,
    /// Archived: no new messages or filters may name it.
    pub archived: Option<bool>,
    /// Deprecated: still usable, shown as such.
    pub deprecated: Option<bool>,
    /// JSON Schemas by version (`{"1": {…}}`).
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Object>,
    /// Group shown with it.
    pub group_name: Option<String>,
    /// Stored and returned.
    pub feature_flags: Option<Vec<String>>,
}

/// Svix's `OperationalWebhookEndpointOut`, with the same aliases as `EndpointOut`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointOut {
    /// `ep_…`.
    pub id: String,
    /// Client-chosen unique id.
    pub uid: Option<String>,
    /// Destination URL.
    pub url: String,
    /// Description.
    pub description: String,
    /// Operational event types it receives (`null`: all).
    pub event_types: Option<Vec<String>>,
    /// Same as `eventTypes`.
    pub filter_types: Option<Vec<String>>,
    /// Disabled endpoints get no new deliveries.
    pub disabled: bool,
    /// Messages per second at most.
    pub throttle_rate: Option<i64>,
    /// Same as `throttleRate`.
    pub rate_limit: Option<i64>,
    /// Free-form metadata.
    #[schema(value_type = Object)]
    pub metadata: Object,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Endpoint> for OperationalWebhookEndpointOut {
    fn from(e: &Endpoint) -> Self {
        OperationalWebhookEndpointOut {
            id: e.id.clone(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.event_types.clone(),
            filter_types: e.event_types.clone(),
            disabled: e.disabled,
            throttle_rate: e.throttle_rate,
            rate_limit: e.throttle_rate,
            metadata: e.metadata.clone(),
            created_at: e.created_at.clone(),
            updated_at: e.updated_at.clone(),
        }
    }
}

/// Svix's `OperationalWebhookEndpointIn` (POST) and `…UpsertIn` (PUT): an endpoint's body
/// without channels, its event types the operational ones.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointIn {
    /// Destination URL (http or https; private addresses only when the server allows them).
    pub url: String,
    /// Client-chosen unique id.
    pub uid: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Operational event types to receive (`endpoint.created`, …; `null`: all).
    pub event_types: Option<Vec<String>>,
    /// Same as `eventTypes`.
    pub filter_types: Option<Vec<String>>,
    /// Created disabled.
    pub disabled: Option<bool>,
    /// Messages per second at most.
    pub throttle_rate: Option<i64>,
    /// Same as `throttleRate`.
    pub rate_limit: Option<i64>,
    /// Free-form metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Object>,
    /// Signing secret `whsec_…` (generated when absent; on creation only).
    pub secret: Option<String>,
    /// Custom headers sent with each delivery (on creation only).
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Object>,
}

/// Svix's `AppPortalAccessIn` (the body may also be empty). Capabilities, feature flags and
/// `application` are not modelled.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Seconds the link works, 3600 to 604800 (default 3600).
    pub expiry: Option<i64>,
    /// Tags the link, for `expire-all` with `sessionIds`.
    pub session_id: Option<String>,
    /// The page only shows, it changes nothing.
    pub read_only: Option<bool>,
}

/// Svix's `AppPortalAccessOut`: a sign-in link to the account's Manage webhooks page.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppPortalAccessOut {
    /// `…/ui/portal/<token>`.
    pub url: String,
    /// The token (also a bearer key for `auth/logout`).
    pub token: String,
}

/// Svix's `ApplicationTokenExpireIn` (the body may also be empty).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationTokenExpireIn {
    /// Seconds the links still work, 0 to 604800 (default 0: now).
    pub expiry: Option<i64>,
    /// Only the links made with one of these `sessionId`s.
    pub session_ids: Option<Vec<String>>,
}

/// A listen session's local answer to one forwarded event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenAckIn {
    /// The message forwarded.
    pub msg_id: String,
    /// The local URL it was forwarded to.
    pub url: String,
    /// The local answer's HTTP status (0: no answer).
    pub status_code: i64,
    /// How long the local answer took.
    pub duration_ms: i64,
    /// The local answer's body (cut).
    pub response: Option<String>,
}

/// A Svix list page. `iterator` is always present (`null` on the last page).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `iterator` for the next page.
    pub iterator: Option<String>,
    /// Always `null`.
    pub prev_iterator: Option<String>,
    /// Whether this is the last page.
    pub done: bool,
}

impl<T> ListResponse<T> {
    /// A page of `data`.
    pub fn new(data: Vec<T>, iterator: Option<String>, done: bool) -> Self {
        ListResponse {
            data,
            iterator,
            prev_iterator: None,
            done,
        }
    }
}

/// Names the schema of a list of `T` as Svix does (`ListResponse_EndpointOut_`).
macro_rules! list_schema {
    ($($name:ident => $item:ty),+ $(,)?) => {$(
        #[doc = concat!("The schema of a `ListResponse<", stringify!($item), ">`.")]
        #[derive(ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// The items.
            pub data: Vec<$item>,
            /// Pass as `iterator` for the next page (`null` on the last).
            pub iterator: Option<String>,
            /// Always `null`.
            pub prev_iterator: Option<String>,
            /// Whether this is the last page.
            pub done: bool,
        }
    )+};
}

list_schema!(
    ListResponseApplicationOut => ApplicationOut,
    ListResponseEndpointOut => EndpointOut,
    ListResponseMessageOut => MessageOut,
    ListResponseEndpointMessageOut => EndpointMessageOut,
    ListResponseMessageEndpointOut => MessageEndpointOut,
    ListResponseMessageAttemptOut => MessageAttemptOut,
    ListResponseBackgroundTaskOut => BackgroundTaskOut,
    ListResponseEventTypeOut => EventTypeOut,
    ListResponseOperationalWebhookEndpointOut => OperationalWebhookEndpointOut,
);
