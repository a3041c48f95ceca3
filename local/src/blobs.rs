//! `GET`/`PUT /_blobs/{key}`: the embedded stand-in for S3 presigned URLs.
//! Only a URL signed by the embedded blob store, unexpired, for that method
//! and key, is honoured; like S3, anything else is 403.

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
    let Some(parts) = &state.embedded else {
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
            if let Ok(v) = HeaderValue::from_str(&blob.content_type) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            if let Some(name) = grant.download_name
                && let Ok(v) = HeaderValue::from_str(&shared::ports::blob_store::attachment(&name))
            {
                headers.insert(header::CONTENT_DISPOSITION, v);
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
    let Some(parts) = &state.embedded else {
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
    match parts.blobs.put(&grant.key, body, &content_type).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "blob write failed");
            gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
    }
}
