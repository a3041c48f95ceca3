//! The caller's avatar (all protected):
//! - `PUT /users/me/avatar`: the image as the body (`image/png`,
//!   `image/jpeg`, `image/webp`, `image/gif`), or `multipart/form-data` with
//!   a `file` field; originals up to 4 MiB (API Gateway carries binary
//!   bodies base64-encoded within Lambda's 6 MB payload). 200 with the links;
//! - `POST /users/me/avatar/upload-url` `{content_type, content_length}`: a
//!   presigned S3 PUT for originals up to 15 MiB, signed for exactly that
//!   type and length, valid 5 minutes; the `media-process` function handles
//!   the object when it lands. At most 20 per hour (429);
//! - `GET /users/me/avatar`: links to both renditions and the state of the
//!   latest presigned upload (`pending`, `rejected` with its reason), or 404;
//! - `DELETE /users/me/avatar`: 204, and the images are gone.
//!
//! The media service we replace uploaded with `POST /media/avatar` (a form
//! with `file`), read the link with `GET /media/avatar` and deleted with
//! `DELETE /media/avatar`: the same three, kept for its clients.
//!
//! Both upload paths end in [`image_pipeline::process_and_install`]: one
//! processing path.

use std::sync::Arc;

use edge::ApiError;
use edge::error::Fields;
use edge::http::{body_bytes, json, json_body, media_type, no_content, respond, route_key};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::avatars::{self, UploadRecord, UploadStatus};
use shared::domain::{AvatarLinks, User};
use time::OffsetDateTime;

use image_pipeline::InstallError;
use image_pipeline::pipeline::{self, ACCEPTED, ImageRejected, MAX_BODY_BYTES, MAX_UPLOAD_BYTES};

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    edge::idempotency::once(state, req, serve).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    // Every route acts on the caller's account, read once its route is known.
    let user = || edge::auth::caller_account(state, req);
    match route_key(req).as_str() {
        "PUT /users/me/avatar" | "POST /media/avatar" => upload(state, req, &user().await?).await,
        "POST /users/me/avatar/upload-url" => upload_url(state, req, &user().await?).await,
        "GET /users/me/avatar" | "GET /media/avatar" => show(state, &user().await?).await,
        "DELETE /users/me/avatar" | "DELETE /media/avatar" => {
            state.avatars.remove(&user().await?.id).await?;
            Ok(no_content())
        }
        _ => Err(ApiError::NoRoute),
    }
}

/// What became of the caller's latest avatar upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AvatarStatus {
    /// The links show the current avatar.
    Ready,
    /// An upload URL was handed out; nothing has arrived or been processed yet.
    Pending,
    /// The latest upload was refused (see `reason`); any links show the previous avatar.
    Rejected,
}

/// The caller's avatar (links, when there is one) and their latest upload.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AvatarView {
    pub status: AvatarStatus,
    /// The 512 × 512 rendition (a presigned GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The 128 × 128 rendition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// When both links stop working.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// `image/jpeg`, or `image/png` for an original with transparency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<OffsetDateTime>,
    /// Why the latest upload was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

async fn view(state: &AppState, user: &User) -> Result<Option<AvatarView>, ApiError> {
    let links = state.avatars.links(user).await?;
    let upload = state.avatars.upload_record(&user.id).await?;
    let (status, reason) = match upload {
        Some(UploadRecord {
            status: UploadStatus::Pending,
            ..
        }) => (AvatarStatus::Pending, None),
        Some(UploadRecord {
            status: UploadStatus::Rejected,
            reason,
            ..
        }) => (AvatarStatus::Rejected, reason),
        None if links.is_some() => (AvatarStatus::Ready, None),
        None => return Ok(None),
    };
    let links: Option<AvatarLinks> = links;
    Ok(Some(AvatarView {
        status,
        url: links.as_ref().map(|l| l.url.clone()),
        thumbnail_url: links.as_ref().map(|l| l.thumbnail_url.clone()),
        expires_at: links.as_ref().map(|l| l.expires_at),
        content_type: links.as_ref().map(|l| l.content_type.clone()),
        updated_at: links.as_ref().map(|l| l.updated_at),
        reason,
    }))
}

async fn show(state: &AppState, user: &User) -> Result<Response<Body>, ApiError> {
    let view = view(state, user).await?.ok_or(ApiError::NotFound)?;
    json(StatusCode::OK, &view)
}

/// The refused image as the answer it deserves: 415 for what is not an
/// accepted image (whatever it claimed), 422 for a broken or oversized one.
fn rejected(e: ImageRejected) -> ApiError {
    match e {
        ImageRejected::UnsupportedFormat | ImageRejected::Mismatch { .. } => {
            ApiError::Unsupported(format!("{e}; send a PNG, JPEG, WebP or GIF image."))
        }
        ImageRejected::TooLarge
        | ImageRejected::TooManyPixels { .. }
        | ImageRejected::TooMuchMemory
        | ImageRejected::Corrupt => ApiError::field("file", &e.to_string()),
    }
}

async fn upload(state: &AppState, req: &Request, user: &User) -> Result<Response<Body>, ApiError> {
    let body = body_bytes(req);
    if body.len() as u64 > MAX_BODY_BYTES + 64 * 1024 {
        return Err(ApiError::PayloadTooLarge);
    }
    let (bytes, declared) = match media_type(req).as_deref() {
        Some("multipart/form-data") => file_field(req, body).await?,
        Some(m) if ACCEPTED.contains(&m) => (body.to_vec(), Some(m.to_owned())),
        _ => {
            return Err(ApiError::Unsupported(
                "Send the image as image/png, image/jpeg, image/webp or image/gif, or as multipart/form-data with a `file` field.".into(),
            ));
        }
    };
    if bytes.len() as u64 > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.is_empty() {
        return Err(ApiError::field("file", "is empty"));
    }
    pipeline::check_declared(&bytes, declared.as_deref()).map_err(rejected)?;
    let user = process_and_install(state, &user.id, bytes).await?;
    let view = view(state, &user).await?.ok_or(ApiError::NotFound)?;
    json(StatusCode::OK, &view)
}

/// Processes an original (on the blocking pool: it is CPU work) and makes
/// it the user's avatar. The user's current record, after the change.
/// The shared pipeline, its refusals mapped to this API's problems.
async fn process_and_install(
    state: &AppState,
    user_id: &str,
    bytes: Vec<u8>,
) -> Result<User, ApiError> {
    image_pipeline::process_and_install(state, user_id, bytes)
        .await
        .map_err(|e| match e {
            InstallError::Rejected(e) => rejected(e),
            InstallError::AccountGone => ApiError::NotFound,
            InstallError::Storage(e) => e.into(),
            InstallError::Stopped(e) => ApiError::internal(e),
        })
}

/// The `file` field of a multipart body and its declared type.
async fn file_field(req: &Request, body: &[u8]) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| ApiError::BadRequest("The multipart body has no boundary.".into()))?;
    let chunk = bytes::Bytes::copy_from_slice(body);
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(chunk) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let malformed = |_| ApiError::BadRequest("The multipart body is malformed.".into());
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() != Some("file") {
            continue;
        }
        let declared = field.content_type().map(|m| m.essence_str().to_owned());
        let bytes = field.bytes().await.map_err(malformed)?;
        return Ok((bytes.to_vec(), declared));
    }
    Err(ApiError::field("file", "is required"))
}

#[derive(Deserialize)]
struct UploadUrlBody {
    content_type: Option<String>,
    content_length: Option<u64>,
}

/// Where and how to upload an original.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadUrl {
    /// PUT the image here, with exactly the headers below.
    pub url: String,
    pub method: &'static str,
    /// `Content-Type` and `Content-Length` as signed.
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

async fn upload_url(
    state: &AppState,
    req: &Request,
    user: &User,
) -> Result<Response<Body>, ApiError> {
    let body: UploadUrlBody = json_body(req)?;
    let mut fields = Fields::default();
    let content_type = match body.content_type.as_deref().map(str::to_ascii_lowercase) {
        None => fields.check::<String>("content_type", Err("is required")),
        Some(t) if ACCEPTED.contains(&t.as_str()) => Some(t),
        Some(_) => {
            return Err(ApiError::Unsupported(
                "content_type must be image/png, image/jpeg, image/webp or image/gif.".into(),
            ));
        }
    };
    let content_length = match body.content_length {
        None => fields.check::<u64>("content_length", Err("is required")),
        Some(0) => fields.check::<u64>("content_length", Err("must be at least 1")),
        Some(n) if n > MAX_UPLOAD_BYTES => return Err(ApiError::PayloadTooLarge),
        Some(n) => Some(n),
    };
    let (content_type, content_length) = fields.finish((content_type, content_length))?;
    if let Err(retry_after_secs) = state.avatars.count_upload_url(&user.id).await? {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let key = shared::blob_keys::upload(&user.id, uuid::Uuid::new_v4());
    // Signing is local work: the answer is made first, so that a retry's
    // key replays the URL this record expects.
    let url = state
        .blobs
        .presign_put(&key, &content_type, content_length, avatars::UPLOAD_URL_TTL)
        .await?;
    let headers = [
        ("Content-Type".to_owned(), content_type.clone()),
        ("Content-Length".to_owned(), content_length.to_string()),
    ]
    .into_iter()
    .collect();
    let answer = json(
        StatusCode::CREATED,
        &UploadUrl {
            url,
            method: "PUT",
            headers,
            expires_at: OffsetDateTime::now_utc() + avatars::UPLOAD_URL_TTL,
        },
    )?;
    state
        .avatars
        .save_upload_record_with(
            &user.id,
            &UploadRecord {
                key,
                content_type,
                content_length,
                status: UploadStatus::Pending,
                reason: None,
            },
            edge::idempotency::answer_writes(req, &answer),
        )
        .await?;
    Ok(answer)
}
