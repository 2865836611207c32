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
    .route(
        "GET",
        "/assets/{uuid}/{filename}",
        "An uploaded asset (unauthenticated, unguessable URL)",
        download,
    )
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
) -> ApiResult<(StatusCode, Json<Value>)> {
    let m = object(body)?;
    let filename = req_str(&m, "filename")?;
    let asset = state.store.create_asset(caller.0.id, &filename).await?;
    let now = chrono::Utc::now();
    let policy_json = json!({"uuid": asset.uuid, "expires": now.timestamp() + UPLOAD_WINDOW_SECS});
    let policy = base64::engine::general_purpose::STANDARD.encode(policy_json.to_string());
    let file = json!({
        "uuid": asset.uuid,
        "filename": asset.filename,
        "url": state.url(&format!("/assets/{}/{}", asset.uuid, asset.filename)),
        "created_at": asset.created_at,
        "presignedPostFields": {
            "url": state.url(&format!("/assets/upload/{}", asset.uuid)),
            "fields": {
                "acl": "public-read",
                "Content-Type": content_type(&asset.filename),
                "key": format!("assets/{}/{}", asset.uuid, asset.filename),
                "x-amz-algorithm": "HMAC-SHA256",
                "x-amz-credential": "datahooks",
                "x-amz-date": now.format("%Y%m%dT%H%M%SZ").to_string(),
                "policy": policy,
                "x-amz-signature": sign(&state, &policy)?,
            }
        }
    });
    Ok((StatusCode::CREATED, Json(file)))
}

fn refused(msg: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "invalid_upload_policy", msg)
}

async fn upload(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    mut form: Multipart,
) -> ApiResult<StatusCode> {
    let mut policy = None;
    let mut signature = None;
    let mut data = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ApiError::new(e.status(), "invalid_upload", e.body_text())),
        };
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "policy" => policy = field.text().await.ok(),
            "x-amz-signature" => signature = field.text().await.ok(),
            "file" => {
                data = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| ApiError::new(e.status(), "invalid_upload", e.body_text()))?,
                )
            }
            _ => {}
        }
    }
    let (Some(policy), Some(signature)) = (policy, signature) else {
        return Err(refused("The upload needs its policy and signature fields."));
    };
    if !mac::verify(
        &state.config.secret_key,
        Purpose::UploadPolicy,
        &policy,
        &signature,
    ) {
        return Err(refused("The upload policy signature does not match."));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(policy.as_bytes())
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .ok_or_else(|| refused("The upload policy is malformed."))?;
    if decoded["uuid"] != uuid.as_str() {
        return Err(refused("The upload policy is for another asset."));
    }
    if decoded["expires"].as_i64().unwrap_or(0) < chrono::Utc::now().timestamp() {
        return Err(refused("The upload policy has expired."));
    }
    let data =
        data.ok_or_else(|| ApiError::bad_request("missing_file", "The form has no 'file' part."))?;
    let asset = state.store.asset(&uuid).await?;
    let dir = state.config.data_dir.join("assets");
    let write = async {
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(format!("{}.part", asset.uuid));
        tokio::fs::write(&tmp, &data).await?;
        tokio::fs::rename(&tmp, dir.join(&asset.uuid)).await
    };
    write.await.map_err(|e| {
        tracing::error!(error = %e, "asset write failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The file could not be stored.",
        )
    })?;
    Ok(StatusCode::NO_CONTENT)
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
