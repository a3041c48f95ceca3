//! The API's own documents (public), as FastAPI serves them, so clients and
//! people used to the systems we replace find them where they look:
//! - `GET /openapi.json`: the OpenAPI document (the committed `openapi.json`,
//!   which a test keeps equal to the one generated from the code);
//! - `GET /docs` and `GET /redoc`: the reference page (Redoc);
//! - `GET /docs/redoc.standalone.js`: Redoc itself, served from here rather
//!   than a CDN, so the page works offline and sends nothing to third parties.
//!
//! The page refers to the other two by relative URLs, so it works under any
//! base path (`/api/v1/docs` reads `/api/v1/openapi.json`).

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

/// The OpenAPI document.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");

/// The reference page.
pub const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>User platform API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="openapi.json"></redoc><script type="module" src="docs/redoc.standalone.js"></script></body>
</html>
"#;

/// Redoc (MIT licence, `assets/redoc.LICENSE`).
pub const REDOC_JS: &[u8] = include_bytes!("../assets/redoc.standalone.js");

/// The reference page's policy. It shares its origin with the hosted pages
/// (whose refresh cookie trusts the origin), so it may load nothing from
/// elsewhere and be framed by no one. Redoc inserts its styles at run time
/// and runs its search in a worker made from a `blob:` URL.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
worker-src 'self' blob:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

fn document(content_type: &'static str, max_age: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The answer to one request, chosen by its route.
pub fn answer(req: &Request) -> Response<Body> {
    let route = req
        .request_context_ref()
        .and_then(|c| match c {
            lambda_http::request::RequestContext::ApiGatewayV2(c) => c.route_key.clone(),
            _ => None,
        })
        .unwrap_or_default();
    match route.as_str() {
        "GET /openapi.json" => document(
            "application/json",
            "public, max-age=300",
            Body::Text(OPENAPI_JSON.to_owned()),
        ),
        "GET /docs" | "GET /redoc" => document(
            "text/html; charset=utf-8",
            "public, max-age=300",
            Body::Text(DOCS_HTML.to_owned()),
        ),
        "GET /docs/redoc.standalone.js" => document(
            "application/javascript",
            "public, max-age=86400",
            Body::Binary(REDOC_JS.to_vec()),
        ),
        _ => {
            let mut response = document(
                "application/problem+json",
                "no-store",
                // edge's answer for a route key a function does not serve
                // (this function links nothing of the workspace's).
                Body::Text(
                    r#"{"type":"/problems/no-route","title":"Not found","status":404,"detail":"No such route."}"#
                        .to_owned(),
                ),
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    }
}

/// The handler in the shape of every function's (the local server's table).
pub async fn handle<S>(_state: S, req: Request) -> Response<Body> {
    answer(&req)
}
