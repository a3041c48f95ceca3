//! The `Idempotency-Key` header over HTTP: [`once`] wraps a function's
//! handler, and a handler puts the answer into its own commit with
//! [`answer_writes`]. The record and its rules: `shared::idempotency`.
//!
//! - no header, or a route not listed: the handler runs as always;
//! - a malformed key: 422 naming `Idempotency-Key`;
//! - the key's first request finished: its answer again, with
//!   `Idempotent-Replayed: true`;
//! - the key's first request is still running: 409 with `Retry-After`;
//! - the key was used with another body, route or method: 422;
//! - else the handler runs; a 2xx is remembered for 24 hours, a 4xx frees the
//!   key (nothing was written), so does a 5xx whose commit did not happen.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderName, HeaderValue, header};
use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::idempotency::{Answer, Claim, Claimed};
use shared::ports::item_store::Write;

use crate::error::ApiError;
use crate::http::{Caller, body_bytes, route_key};

/// The request header.
pub const KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// The answer header of a replay.
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key accepted (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

/// The headers of an answer that a replay repeats.
const KEPT_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::CACHE_CONTROL,
];

/// The claim of the request being served, in its extensions, for
/// [`answer_writes`].
#[derive(Clone)]
struct Held {
    claim: Claim,
    /// Set when the handler put the answer into its commit.
    offered: Arc<AtomicBool>,
}

/// The routes that honour `Idempotency-Key` (the OpenAPI document lists
/// the header on these). Their handlers commit their answer with
/// [`answer_writes`], so that a write and its answer are one commit.
pub const KEYED_ROUTES: [&str; 3] = ["POST /tasks", "POST /orders", "POST /books"];

/// Serves `req` with `handler`, once per key on the [`KEYED_ROUTES`].
pub async fn once<F, Fut>(state: Arc<AppState>, mut req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(Arc<AppState>, Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let Some(raw) = req.headers().get(KEY_HEADER).cloned() else {
        return handler(state, req).await;
    };
    if !KEYED_ROUTES.contains(&route_key(&req).as_str()) {
        return handler(state, req).await;
    }
    // An anonymous call is the handler's to refuse (401).
    let Ok(caller) = Caller::from_request(&req) else {
        return handler(state, req).await;
    };
    let key = match parse_key(&raw) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let claim = match state
        .idempotency
        .claim(&caller.user_id, key, &fingerprint(&req))
        .await
    {
        Ok(Claimed::Run(claim)) => claim,
        Ok(Claimed::Replay(answer)) => return replay(answer),
        Ok(Claimed::InFlight { retry_after_secs }) => {
            return ApiError::KeyInUse {
                retry_after_secs: retry_after_secs.max(1),
            }
            .into_response();
        }
        Ok(Claimed::OtherRequest) => {
            return ApiError::field(
                "Idempotency-Key",
                "was used for a different request (another body, method or path); send a new key",
            )
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let offered = Arc::new(AtomicBool::new(false));
    req.extensions_mut().insert(Held {
        claim: claim.clone(),
        offered: offered.clone(),
    });
    let response = handler(state.clone(), req).await;
    let status = response.status();
    let repo = &state.idempotency;
    if status.is_success() {
        if !offered.load(Ordering::Acquire) {
            // A route whose success commits nothing (or not through the
            // handler's commit): remember the answer now.
            if let Err(e) = repo.finish(&claim, &answer_of(&response)).await {
                tracing::warn!(error = %e, "the answer of an idempotent request was not kept");
            }
        }
    } else if status.is_client_error() || offered.load(Ordering::Acquire) {
        // A 4xx wrote nothing; a 5xx whose commit carried the answer left
        // the record `done` if it committed, which the release leaves alone.
        if let Err(e) = repo.release(&claim).await {
            tracing::warn!(error = %e, "an idempotency key was not released; it frees when its lease ends");
        }
    }
    // Else a 5xx on a route that may have written without the answer: the
    // lease lapses, and a retry after it runs again.
    response
}

/// The write that records `response` as the key's answer, for the
/// handler's commit, when the request holds a key; none otherwise.
pub fn answer_writes(req: &Request, response: &Response<Body>) -> Vec<Write> {
    let Some(held) = req.extensions().get::<Held>() else {
        return Vec::new();
    };
    // Only a success is recorded by the commit; an error answer writes
    // nothing and frees the key instead.
    if !response.status().is_success() {
        return Vec::new();
    }
    let write = held.claim.answer_write(&answer_of(response));
    held.offered.store(true, Ordering::Release);
    vec![write]
}

/// A key: 1 to 255 visible ASCII characters (UUIDs, ULIDs, random tokens).
fn parse_key(raw: &HeaderValue) -> Result<&str, ApiError> {
    raw.to_str()
        .ok()
        .filter(|k| (1..=MAX_KEY_LEN).contains(&k.len()))
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters, such as a UUID",
            )
        })
}

/// What makes two requests the same: method, path and query, and body.
pub fn fingerprint(req: &Request) -> String {
    shared::idempotency::fingerprint(
        req.method().as_str(),
        req.uri().path_and_query().map_or("", |p| p.as_str()),
        body_bytes(req),
    )
}

fn answer_of(response: &Response<Body>) -> Answer {
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let body = match response.body() {
        Body::Text(s) => s.clone(),
        // The keyed routes answer JSON; a binary body is not theirs.
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    Answer {
        status: response.status().as_u16(),
        headers,
        body,
    }
}

fn replay(answer: Answer) -> Response<Body> {
    let body = if answer.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(answer.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
