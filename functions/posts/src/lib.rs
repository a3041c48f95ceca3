//! The posts feed (public, as in the system it replaces):
//! - `GET /posts?page=&per_page=&search=`: `{items, page, per_page, total,
//!   pages}`; `per_page` 1–100 (default 10), `page` from 1 (default 1), a
//!   page past the end has no items but the totals; `search` matches title
//!   or body ignoring case (Unicode case folding), up to 200 characters;
//! - `GET /posts/{id}`: one post, or 404;
//! - `DELETE /admin/posts/cache` (admins): drops the shared cache, so the
//!   next request fetches the upstream.
//!
//! Every answer says how it was served: `X-Cache: HIT | MISS | STALE`,
//! `Age` (seconds since the upstream was fetched), `ETag` and
//! `Cache-Control: public, max-age=` the snapshot's remaining freshness;
//! `If-None-Match` with the current tag answers 304. Nothing cached and the
//! upstream down or slow is a 503 with `Retry-After`; the upstream answering
//! something unusable with nothing cached is a 502 (see `shared::posts`).

use std::sync::Arc;

use edge::ApiError;
use edge::error::Fields;
use edge::http::{Caller, no_content, path_param, query_param, respond, route_key};
use headers::{ETag, HeaderMapExt, IfNoneMatch};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::posts::{FeedError, Served, UpstreamError};

/// The longest `search` accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    match route_key(req).as_str() {
        "GET /posts" => list(state, req).await,
        "GET /posts/{id}" => one(state, req).await,
        "DELETE /admin/posts/cache" => {
            Caller::from_request(req)?.require_admin()?;
            state.posts.drop_cache().await?;
            Ok(no_content())
        }
        _ => Err(ApiError::NoRoute),
    }
}

async fn list(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let mut fields = Fields::default();
    let page = fields.check(
        "page",
        number(
            req,
            "page",
            1,
            1..=1_000_000,
            "must be a whole number from 1 to 1000000",
        ),
    );
    let per_page = fields.check(
        "per_page",
        number(
            req,
            "per_page",
            10,
            1..=100,
            "must be a whole number from 1 to 100",
        ),
    );
    let search = query_param(req, "search").map(str::trim);
    if search.is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
        fields.push("search", "must be at most 200 characters");
    }
    let (page, per_page) = fields.finish((page, per_page))?;
    let served = current(state).await?;
    let body = serde_json::to_string(&served.snapshot.page(page, per_page, search))
        .map_err(ApiError::internal)?;
    Ok(cached(req, &served, body))
}

async fn one(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    // An id that is not a whole number names no post: 404, like a missing one.
    let id: u64 = path_param(req, "id")?
        .parse()
        .map_err(|_| ApiError::NotFound)?;
    let served = current(state).await?;
    let post = served.snapshot.get(id).ok_or(ApiError::NotFound)?;
    let body = serde_json::to_string(post).map_err(ApiError::internal)?;
    Ok(cached(req, &served, body))
}

/// The feed's snapshot; its failures as the HTTP edge states them.
async fn current(state: &AppState) -> Result<Served, ApiError> {
    let retry_after_secs = state.posts.lease_for().as_secs();
    state.posts.current().await.map_err(|e| match e {
        FeedError::Store(e) => e.into(),
        FeedError::Upstream(UpstreamError::Malformed(cause)) => ApiError::BadGateway(cause),
        FeedError::Upstream(UpstreamError::Unavailable(cause)) => ApiError::UnavailableFor {
            cause,
            retry_after_secs,
        },
        FeedError::Busy => ApiError::UnavailableFor {
            cause: "the posts cache is being filled by another request".into(),
            retry_after_secs,
        },
    })
}

/// A whole number query parameter within `range` (or `default` when absent).
fn number(
    req: &Request,
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    message: &'static str,
) -> Result<u64, &'static str> {
    match query_param(req, name).map(|raw| raw.trim().parse::<u64>()) {
        None => Ok(default),
        Some(Ok(n)) if range.contains(&n) => Ok(n),
        Some(_) => Err(message),
    }
}

/// A 200 (or a 304 when `If-None-Match` names this body's tag), with the
/// cache headers of the snapshot it came from.
fn cached(req: &Request, served: &Served, body: String) -> Response<Body> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
    let etag: ETag = format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))
        .parse()
        .expect("a quoted hex digest is a valid ETag");
    // RFC 9110 §13.1.2: weak comparison, `*` matches; a header that is not
    // a list of tags is ignored.
    let not_modified = req
        .headers()
        .typed_get::<IfNoneMatch>()
        .is_some_and(|tags| !tags.precondition_passes(&etag));
    let age = served.snapshot.age_secs();
    let max_age = served.snapshot.fresh_secs_left();
    let mut response = if not_modified {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::Text(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let headers = response.headers_mut();
    headers.typed_insert(etag);
    headers.insert(header::AGE, HeaderValue::from(age));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    headers.insert("x-cache", HeaderValue::from_static(served.status.as_str()));
    response
}
