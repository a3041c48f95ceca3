//! Processes presigned avatar uploads when S3 reports them
//! (`ObjectCreated` on `uploads/`; the local server hands it the same
//! event). It trusts nothing about the object: it checks it against the
//! user's upload record (same key, the signed type and size), sniffs and
//! decodes it like a direct upload, installs the result, and deletes the
//! upload whatever the outcome. A refused upload is recorded as `rejected`
//! with its reason, for `GET /users/me/avatar`.
//!
//! An error (a store or blob outage) fails the invocation, so S3's
//! asynchronous invoke retries it; every step is safe to repeat.

use std::sync::Arc;

use aws_lambda_events::s3::S3Event;
use edge::ApiError;
use image_pipeline::InstallError;
use image_pipeline::pipeline::{self, MAX_UPLOAD_BYTES};
use shared::AppState;

pub async fn handle(state: Arc<AppState>, event: S3Event) -> Result<(), ApiError> {
    for record in event.records {
        let Some(key) = record.s3.object.key else {
            continue;
        };
        // S3 URL-encodes keys in notifications; ours never need it.
        let key = key.replace('+', " ");
        process_upload(&state, &key).await?;
    }
    Ok(())
}

pub async fn process_upload(state: &AppState, key: &str) -> Result<(), ApiError> {
    let Some(user_id) = shared::blob_keys::upload_owner(key) else {
        tracing::warn!(key, "media-process: not an upload key; ignored");
        return Ok(());
    };
    let Some(blob) = state.blobs.get(key).await? else {
        return Ok(()); // already processed (a repeated notification)
    };
    let outcome = check_and_install(state, user_id, key, &blob.bytes, &blob.content_type).await;
    match outcome {
        Ok(()) => state.avatars.finish_upload(user_id, key).await?,
        Err(Refused(reason)) => {
            tracing::info!(key, reason, "media-process: upload rejected");
            state.avatars.reject_upload(user_id, key, &reason).await?;
        }
        Err(Failed(e)) => return Err(e),
    }
    state.blobs.delete(key).await?;
    Ok(())
}

enum Outcome {
    Refused(String),
    Failed(ApiError),
}
use Outcome::{Failed, Refused};

async fn check_and_install(
    state: &AppState,
    user_id: &str,
    key: &str,
    bytes: &[u8],
    stored_type: &str,
) -> Result<(), Outcome> {
    let record = state
        .avatars
        .upload_record(user_id)
        .await
        .map_err(|e| Failed(e.into()))?
        .filter(|r| r.key == key)
        .ok_or_else(|| {
            Refused("no upload URL was issued for this object (or a newer one replaced it)".into())
        })?;
    if bytes.len() as u64 != record.content_length || bytes.len() as u64 > MAX_UPLOAD_BYTES {
        return Err(Refused(format!(
            "the upload has {} bytes, not the {} that were signed",
            bytes.len(),
            record.content_length
        )));
    }
    if !stored_type.eq_ignore_ascii_case(&record.content_type) {
        return Err(Refused(
            "the upload's Content-Type is not the one that was signed".into(),
        ));
    }
    pipeline::check_declared(bytes, Some(&record.content_type))
        .map_err(|e| Refused(e.to_string()))?;
    match image_pipeline::process_and_install(state, user_id, bytes.to_vec()).await {
        Ok(_) => Ok(()),
        Err(e @ (InstallError::Rejected(_) | InstallError::AccountGone)) => {
            Err(Refused(e.to_string()))
        }
        Err(InstallError::Storage(e)) => Err(Failed(e.into())),
        Err(InstallError::Stopped(e)) => Err(Failed(ApiError::internal(e))),
    }
}
