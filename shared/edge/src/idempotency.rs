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
//! - else the handler runs; a 2xx is remembered for 24 hours; a 4xx or 5xx
//!   frees the key, as nothing it stands for was committed (a commit that
//!   happened carried the answer, and stays).

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
pub const KEYED_ROUTES: [&str; 12] = [
    "POST /tasks",
    "POST /orders",
    "POST /books",
    "POST /auth/signup",
    "POST /auth/register",
    "POST /users/me/avatar/upload-url",
    "POST /users/me/pdf",
    "POST /admin/users/{id}/deactivate",
    "POST /admin/users/{id}/activate",
    "PATCH /admin/users/{id}",
    "DELETE /admin/users/{id}",
    "POST /admin/events/redrive",
];

/// The anonymous routes among them: sign-up, whose keys are scoped to the
/// address signing up.
const SIGN_UP: [&str; 2] = ["POST /auth/signup", "POST /auth/register"];

/// Serves `req` with `handler`, once per key on the [`KEYED_ROUTES`].
pub async fn once<F, Fut>(state: Arc<AppState>, mut req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(Arc<AppState>, Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let Some(raw) = req.headers().get(KEY_HEADER).cloned() else {
        return handler(state, req).await;
    };
    let route = route_key(&req);
    if !KEYED_ROUTES.contains(&route.as_str()) {
        return handler(state, req).await;
    }
    // Without a scope (a protected route's call without its caller, a
    // sign-up without an address) the handler refuses the request.
    let Some(scope) = scope(&req, &route) else {
        return handler(state, req).await;
    };
    let key = match parse_key(&raw) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let claim = match state
        .idempotency
        .claim(&scope, key, &fingerprint(&req, &route))
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
    } else if let Err(e) = repo.release(&claim).await {
        // Nothing this key stands for was committed: a keyed handler's
        // commit carries the answer, and one that committed left the
        // record `done`, which the release leaves alone. So a 4xx or 5xx
        // frees the key for the client's retry.
        tracing::warn!(error = %e, "an idempotency key was not released; it frees when its lease ends");
    }
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

/// The fingerprint of a request given by its parts, as [`fingerprint`]
/// makes it (tests check what is stored).
pub fn fingerprint_parts(method: &str, path: &str, body: &serde_json::Value) -> String {
    shared::idempotency::fingerprint(method, path, &serde_json::to_vec(body).unwrap_or_default())
}

/// Whose keys a request's key is among: the caller's; for a sign-up, the
/// address signing up (hashed), so that strangers' keys never meet.
fn scope(req: &Request, route: &str) -> Option<String> {
    if !SIGN_UP.contains(&route) {
        return Caller::from_request(req).ok().map(|c| c.user_id);
    }
    let body = sign_up_body(req)?;
    let email = body.get("email")?.as_str()?.trim().to_lowercase();
    Some(format!("signup:{}", shared::secrets::token_hash(&email)))
}

/// A sign-up's body as JSON, if it is an object.
fn sign_up_body(req: &Request) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(body_bytes(req)).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// What makes two requests the same: method, path and query, and body. A
/// sign-up's password is left out: a fast hash of it, stored, would let
/// anyone holding the table try passwords without argon2's cost.
pub fn fingerprint(req: &Request, route: &str) -> String {
    let without_password;
    let body = match SIGN_UP
        .contains(&route)
        .then(|| sign_up_body(req))
        .flatten()
    {
        Some(mut map) => {
            map.remove("password");
            without_password = serde_json::to_vec(&map).unwrap_or_default();
            &without_password[..]
        }
        None => body_bytes(req),
    };
    shared::idempotency::fingerprint(
        req.method().as_str(),
        req.uri().path_and_query().map_or("", |p| p.as_str()),
        body,
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
