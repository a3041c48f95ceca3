//! `GET`/`PUT /_blobs/{key}`: the embedded stand-in for S3 presigned URLs.
//! Only a URL signed by the embedded blob store, unexpired, for that method
//! and key, is honoured; like S3, anything else is 403 (a body whose size
//! or type differs from the signed one included). An object written under
//! `uploads/` is then handed to the `media-process` function as the S3
//! `ObjectCreated` notification the template subscribes it to.

use edge::wiring::EmbeddedParts;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use shared::AppState;
use shared::ports::BlobStore;

use crate::gateway::gateway_message;

fn denied(reason: &str) -> Response {
    gateway_message(StatusCode::FORBIDDEN, reason)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(parts) = state.extras.get::<EmbeddedParts>() else {
        return gateway_message(StatusCode::NOT_FOUND, "Not Found");
    };
    let grant = match parts
        .blobs
        .verify("GET", &key, q.as_deref().unwrap_or_default())
    {
        Ok(g) => g,
        Err(e) => return denied(&e.to_string()),
    };
    match parts.blobs.get(&grant.key).await {
        Ok(Some(blob)) => {
            let mut headers = HeaderMap::new();
            // What S3 answers with: the headers stored with the object, the
            // URL's signed download name over its disposition. And what S3
            // cannot store: no browser may guess another type than ours.
            let disposition = grant
                .download_name
                .map(|name| shared::ports::blob_store::attachment(&name))
                .or(blob.content_disposition);
            for (name, value) in [
                (header::CONTENT_TYPE, Some(blob.content_type)),
                (header::CONTENT_DISPOSITION, disposition),
                (header::CACHE_CONTROL, blob.cache_control),
                (header::X_CONTENT_TYPE_OPTIONS, Some("nosniff".to_owned())),
            ] {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    headers.insert(name, v);
                }
            }
            (StatusCode::OK, headers, blob.bytes).into_response()
        }
        Ok(None) => gateway_message(StatusCode::NOT_FOUND, "NoSuchKey"),
        Err(e) => {
            tracing::error!(error = %e, "blob read failed");
            gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
    }
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(parts) = state.extras.get::<EmbeddedParts>() else {
        return gateway_message(StatusCode::NOT_FOUND, "Not Found");
    };
    let grant = match parts
        .blobs
        .verify("PUT", &key, q.as_deref().unwrap_or_default())
    {
        Ok(g) => g,
        Err(e) => return denied(&e.to_string()),
    };
    let sent_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let content_type = match grant.content_type {
        Some(signed) if signed != sent_type => {
            return denied("the Content-Type differs from the signed one");
        }
        Some(signed) => signed,
        None => "application/octet-stream".to_owned(),
    };
    if grant.content_length.is_some_and(|n| n != body.len() as u64) {
        return denied("the body's length differs from the signed Content-Length");
    }
    let size = body.len();
    let served = shared::ports::Served::upload(&content_type);
    match parts.blobs.put(&grant.key, body, &served).await {
        Ok(()) => {
            if grant.key.starts_with(shared::blob_keys::UPLOADS) {
                notify_object_created(state.clone(), grant.key, size);
            }
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "blob write failed");
            gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
    }
}

/// What S3 does for the template's notification: invoke `media-process`
/// asynchronously with an `ObjectCreated:Put` event for the key.
fn notify_object_created(state: Arc<AppState>, key: String, size: usize) {
    use aws_lambda_events::s3::{S3Event, S3EventRecord};
    let bucket = state.config.bucket_name.clone();
    let mut record = S3EventRecord::default();
    record.event_version = Some("2.1".into());
    record.event_source = Some("aws:s3".into());
    record.event_name = Some("ObjectCreated:Put".into());
    record.s3.schema_version = Some("1.0".into());
    record.s3.configuration_id = Some("uploads".into());
    record.s3.bucket.arn = Some(format!("arn:aws:s3:::{bucket}"));
    record.s3.bucket.name = Some(bucket);
    record.s3.object.key = Some(key);
    record.s3.object.size = Some(size as i64);
    let mut event = S3Event::default();
    event.records.push(record);
    tokio::spawn(async move {
        let view = crate::ports::view(&state, "media-process");
        if let Err(e) =
            crate::ports::run_as("media-process", media_process::handle(view, event)).await
        {
            tracing::error!(error = %e, "media-process failed");
        }
    });
}

/// On the AWS adapters the bucket is S3's (moto's, locally), and moto runs
/// no functions: the `local` server stands in for the template's
/// notification by listing `uploads/` twice a second and handing each new
/// object to `media-process`, which deletes it once handled. A key whose
/// processing failed is tried again on the next round. Not in the tests'
/// servers: they deliver the event themselves (`local/tests/avatars.rs`).
pub fn watch_uploads(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut handed = std::collections::HashSet::new();
        // Failures per key: one that keeps failing is given up on (it
        // stays for the bucket's lifecycle rule, as on AWS after the
        // notification's retries).
        let mut failures = std::collections::HashMap::<String, u32>::new();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let Ok(keys) = state.blobs.list(shared::blob_keys::UPLOADS).await else {
                continue;
            };
            handed.retain(|k| keys.contains(k));
            failures.retain(|k, _| keys.contains(k));
            for key in keys {
                if handed.contains(&key) || failures.get(&key).is_some_and(|n| *n >= 20) {
                    continue;
                }
                let view = crate::ports::view(&state, "media-process");
                match crate::ports::run_as(
                    "media-process",
                    media_process::process_upload(&view, &key),
                )
                .await
                {
                    Ok(()) => {
                        handed.insert(key);
                    }
                    Err(e) => {
                        tracing::warn!(key, error = %e, "media-process failed; trying again");
                        *failures.entry(key).or_default() += 1;
                    }
                }
            }
        }
    })
}
