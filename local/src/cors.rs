//! CORS as the deployment does it, emulated: API Gateway's for the API
//! (the HTTP API's `CorsConfiguration` in `template.yaml`) and S3's for the
//! blob URLs that stand for the bucket (its `CorsRules`). Both allow the one
//! origin of `APP_ORIGIN` (the template's `AppOrigin`); unset, there is no
//! cross-origin access at all (as on AWS without a CORS configuration).
//!
//! API Gateway, as documented for HTTP APIs: a preflight (`OPTIONS` with
//! `Origin` and `Access-Control-Request-Method`) is answered by the gateway
//! itself, 204, before any route, authorizer or function; the allow headers
//! are added only for the allowed origin. Other requests run as usual, the
//! gateway drops any CORS header a function sent and adds its own when the
//! `Origin` is the allowed one.
//!
//! S3: a preflight matching the rule (origin, `PUT`, only `Content-Type`)
//! gets 200 with the allow headers, any other 403; a matching request's
//! answer carries `Access-Control-Allow-Origin`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use shared::AppState;

/// The HTTP API's CORS configuration (a test holds `template.yaml` to it).
pub const API_ALLOW_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
pub const API_ALLOW_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
];
pub const API_EXPOSE_HEADERS: [&str; 5] = [
    "etag",
    "location",
    "retry-after",
    "apigw-requestid",
    "idempotent-replayed",
];
pub const API_MAX_AGE_SECS: u32 = 600;
/// The bucket's CORS rule: browsers PUT presigned uploads.
pub const BUCKET_ALLOW_METHODS: [&str; 1] = ["PUT"];
pub const BUCKET_ALLOW_HEADERS: [&str; 1] = ["content-type"];
pub const BUCKET_MAX_AGE_SECS: u32 = 3000;

/// Where the blob URLs (S3's stand-in) are served.
const BLOBS: &str = "/_blobs/";

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(ORIGIN)
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The middleware over the whole local server.
pub async fn layer(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let allowed = state.config.app_origin.clone();
    let origin = req
        .headers()
        .get(ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_ascii_lowercase);
    let matches = allowed.is_some() && origin == allowed;
    if req.uri().path().starts_with(BLOBS) {
        return bucket(req, next, matches).await;
    }
    if allowed.is_some() && is_preflight(&req) {
        let mut out = StatusCode::NO_CONTENT.into_response();
        if matches {
            let h = out.headers_mut();
            allow_origin(h, origin.as_deref().unwrap_or_default());
            preflight_answer(h, &API_ALLOW_METHODS, &API_ALLOW_HEADERS, API_MAX_AGE_SECS);
        }
        return out;
    }
    let mut out = next.run(req).await;
    if allowed.is_some() {
        let h = out.headers_mut();
        for name in [
            ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            ACCESS_CONTROL_EXPOSE_HEADERS,
            ACCESS_CONTROL_ALLOW_METHODS,
            ACCESS_CONTROL_ALLOW_HEADERS,
            ACCESS_CONTROL_MAX_AGE,
        ] {
            h.remove(name);
        }
        if matches {
            allow_origin(h, origin.as_deref().unwrap_or_default());
            h.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                value(&API_EXPOSE_HEADERS.join(",")),
            );
        }
    }
    out
}

/// What a preflight for an allowed origin is told it may send.
fn preflight_answer(h: &mut HeaderMap, methods: &[&str], headers: &[&str], max_age: u32) {
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, value(&methods.join(",")));
    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, value(&headers.join(",")));
    h.insert(ACCESS_CONTROL_MAX_AGE, value(&max_age.to_string()));
}

fn allow_origin(h: &mut HeaderMap, origin: &str) {
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value(origin));
    h.insert(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.append(VARY, HeaderValue::from_static("origin"));
}

/// S3's CORS for the bucket's one rule.
async fn bucket(req: Request, next: Next, matches: bool) -> Response {
    if is_preflight(&req) {
        let method_ok = req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| BUCKET_ALLOW_METHODS.contains(&m));
        let headers_ok = req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| BUCKET_ALLOW_HEADERS.contains(&h.as_str()));
        if !(matches && method_ok && headers_ok) {
            return (
                StatusCode::FORBIDDEN,
                "CORSResponse: This CORS request is not allowed.",
            )
                .into_response();
        }
        let origin = req.headers().get(ORIGIN).cloned();
        let mut out = StatusCode::OK.into_response();
        let h = out.headers_mut();
        if let Some(origin) = origin {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        preflight_answer(
            h,
            &BUCKET_ALLOW_METHODS,
            &BUCKET_ALLOW_HEADERS,
            BUCKET_MAX_AGE_SECS,
        );
        h.append(VARY, HeaderValue::from_static("origin"));
        return out;
    }
    let origin = req.headers().get(ORIGIN).cloned();
    let mut out = next.run(req).await;
    if matches && let Some(origin) = origin {
        out.headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.headers_mut()
            .append(VARY, HeaderValue::from_static("origin"));
    }
    out
}
