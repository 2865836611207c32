//! Assets: the S3-style presigned upload the SDK expects, served locally.
//!
//! `POST /assets/` hands out an upload URL and eight form fields; the `policy` field carries
//! the asset id and an expiry, and `x-amz-signature` is our HMAC over it, so the upload needs
//! no API key (as with S3) yet only the holder of the fields can upload. Files live under
//! `<data-dir>/assets/` and are served at an unguessable URL.

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use datahooks_domain::inputs::{object, req_str};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody};
use crate::mac::{self, Purpose};
use crate::routes::ApiRouter;
use crate::schema::platform::{AssetIn, AssetOut, PresignedPostFields};
use crate::state::AppState;

/// How long an upload policy stays valid.
const UPLOAD_WINDOW_SECS: i64 = 3600;

pub(crate) fn routes(r: ApiRouter) -> ApiRouter {
    r.route(
        "POST",
        "/assets/",
        "Registers an asset and returns its presigned upload fields",
        create,
    )
    .body::<AssetIn>()
    .returns::<AssetOut>(201)
    .route(
        "GET",
        "/assets/{uuid}/{filename}",
        "An uploaded asset (unauthenticated, unguessable URL)",
        download,
    )
    .returns_media(200, "application/octet-stream")
    .public()
}

/// The upload route, with its own (larger) body limit.
pub fn upload_router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/assets/upload/{uuid}", post(upload))
        .route("/assets/upload/{uuid}/", post(upload))
        .layer(DefaultBodyLimit::max(state.config.asset_limit))
}

fn sign(state: &AppState, policy: &str) -> ApiResult<String> {
    mac::sign(&state.config.secret_key, Purpose::UploadPolicy, policy).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The upload policy could not be signed.",
        )
    })
}

fn content_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "json" => "application/json",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<AssetOut>)> {
    let m = object(body)?;
    let filename = req_str(&m, "filename")?;
    let asset = state.store.create_asset(caller.0.id, &filename).await?;
    let now = chrono::Utc::now();
    let policy_json = json!({"uuid": asset.uuid, "expires": now.timestamp() + UPLOAD_WINDOW_SECS});
    let policy = base64::engine::general_purpose::STANDARD.encode(policy_json.to_string());
    let fields = json!({
                "acl": "public-read",
                "Content-Type": content_type(&asset.filename),
                "key": format!("assets/{}/{}", asset.uuid, asset.filename),
                "x-amz-algorithm": "HMAC-SHA256",
                "x-amz-credential": "datahooks",
                "x-amz-date": now.format("%Y%m%dT%H%M%SZ").to_string(),
                "policy": policy,
                "x-amz-signature": sign(&state, &policy)?,
    });
    let file = AssetOut {
        url: state.url(&format!("/assets/{}/{}", asset.uuid, asset.filename)),
        presigned_post_fields: PresignedPostFields {
            url: state.url(&format!("/assets/upload/{}", asset.uuid)),
            fields,
        },
        uuid: asset.uuid,
        filename: asset.filename,
        created_at: asset.created_at,
    };
    Ok((StatusCode::CREATED, Json(file)))
}

fn refused(msg: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "invalid_upload_policy", msg)
}

/// Largest form field other than the file (the policy is about 100 bytes).
const MAX_FIELD: usize = 8 * 1024;

/// Takes an upload. The form is read as it arrives: the policy and signature fields come
/// before the file (as in an S3 presigned POST) and are checked when the file part starts,
/// so a refused upload is answered before its file is read. The file streams to a temp file
/// in the assets directory, which is renamed into place once it is whole and counted
/// against the owner's quota; on any error the temp file is removed.
async fn upload(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    mut form: Multipart,
) -> ApiResult<StatusCode> {
    let mut policy = None;
    let mut signature = None;
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("policy") => policy = Some(small_field(field).await?),
            Some("x-amz-signature") => signature = Some(small_field(field).await?),
            Some("file") => {
                check_policy(&state, &uuid, policy.as_deref(), signature.as_deref())?;
                store_file(&state, &uuid, field).await?;
                return Ok(StatusCode::NO_CONTENT);
            }
            // Other presigned fields (key, acl, …) are S3's business; skipped unread.
            _ => {}
        }
    }
    check_policy(&state, &uuid, policy.as_deref(), signature.as_deref())?;
    Err(ApiError::bad_request(
        "missing_file",
        "The form has no 'file' part.",
    ))
}

fn bad_form(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(e.status(), "invalid_upload", e.body_text())
}

/// A text field of at most [`MAX_FIELD`] bytes.
async fn small_field(mut field: axum::extract::multipart::Field<'_>) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
        if bytes.len() + chunk.len() > MAX_FIELD {
            return Err(ApiError::bad_request(
                "invalid_upload",
                "A form field other than the file is too large.",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("invalid_upload", "A form field is not UTF-8."))
}

/// The policy must be ours (signature), for this asset, and not expired.
fn check_policy(
    state: &AppState,
    uuid: &str,
    policy: Option<&str>,
    signature: Option<&str>,
) -> ApiResult<()> {
    let (Some(policy), Some(signature)) = (policy, signature) else {
        return Err(refused(
            "The upload needs its policy and signature fields before the file.",
        ));
    };
    if !mac::verify(
        &state.config.secret_key,
        Purpose::UploadPolicy,
        policy,
        signature,
    ) {
        return Err(refused("The upload policy signature does not match."));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(policy.as_bytes())
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .ok_or_else(|| refused("The upload policy is malformed."))?;
    if decoded["uuid"] != uuid {
        return Err(refused("The upload policy is for another asset."));
    }
    if decoded["expires"].as_i64().unwrap_or(0) < chrono::Utc::now().timestamp() {
        return Err(refused("The upload policy has expired."));
    }
    Ok(())
}

fn quota_exceeded(quota: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "asset_quota_exceeded",
        format!("This file would take the account's assets past their quota of {quota} bytes."),
    )
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "asset_too_large",
        format!("The file is larger than the limit of {limit} bytes."),
    )
}

fn write_failed(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "asset write failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "The file could not be stored.",
    )
}

/// A temp file that is removed unless it was renamed into place (also when the request is
/// dropped half-way because the client went away).
struct Partial(Option<std::path::PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Streams the file part to disk under the size limit and the owner's quota.
async fn store_file(
    state: &AppState,
    uuid: &str,
    mut field: axum::extract::multipart::Field<'_>,
) -> ApiResult<()> {
    use tokio::io::AsyncWriteExt;
    let asset = state.store.asset(uuid).await?;
    let quota = state.config.asset_quota;
    let others = u64::try_from(state.store.asset_others_size(&asset.uuid).await?).unwrap_or(0);
    let room = quota.saturating_sub(others);
    let limit = state.config.asset_limit as u64;
    let dir = state.config.data_dir.join("assets");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(write_failed)?;
    let tmp = dir.join(format!("{}.{}.part", asset.uuid, uuid::Uuid::new_v4()));
    let mut partial = Partial(Some(tmp.clone()));
    let mut file = tokio::fs::File::create(&tmp).await.map_err(write_failed)?;
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(state.config.asset_limit));
        }
        if size > room {
            return Err(quota_exceeded(quota));
        }
        file.write_all(&chunk).await.map_err(write_failed)?;
    }
    file.sync_all().await.map_err(write_failed)?;
    drop(file);
    let recorded = state
        .store
        .record_asset_size(
            &asset.uuid,
            i64::try_from(size).unwrap_or(i64::MAX),
            i64::try_from(quota).unwrap_or(i64::MAX),
        )
        .await?;
    if !recorded {
        // Another upload of the account took the room while this one streamed.
        return Err(quota_exceeded(quota));
    }
    tokio::fs::rename(&tmp, dir.join(&asset.uuid))
        .await
        .map_err(write_failed)?;
    partial.0 = None;
    Ok(())
}

async fn download(
    State(state): State<AppState>,
    Path((uuid, filename)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    if uuid::Uuid::parse_str(&uuid).is_err() {
        return Err(ApiError::not_found());
    }
    let asset = state.store.asset(&uuid).await?;
    if asset.filename != filename {
        return Err(ApiError::not_found());
    }
    let bytes = tokio::fs::read(state.config.data_dir.join("assets").join(&asset.uuid))
        .await
        .map_err(|_| ApiError::not_found())?;
    Ok((
        [(header::CONTENT_TYPE, content_type(&asset.filename))],
        bytes,
    ))
}
