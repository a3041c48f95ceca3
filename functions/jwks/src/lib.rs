//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`:
//! everything a standard JWT library (or API Gateway's own JWT authorizer)
//! needs to verify our access tokens without calling us again.

use std::sync::Arc;

use edge::ApiError;
use edge::http::{allow, json, respond, route_key};
use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use shared::AppState;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(serve(&state, &req))
}

/// On AWS the API's address is the host API Gateway saw (no cycle in the
/// template); locally it is the configured base URL.
fn base_url(state: &AppState, req: &Request) -> String {
    let on_aws = state.config.backend == shared::config::Backend::Aws;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) if on_aws && !state.config.public_base_url_set => {
            ctx.domain_name
                .as_deref()
                .map(|d| format!("https://{d}"))
                .unwrap_or_else(|| state.config.public_base_url.clone())
        }
        _ => state.config.public_base_url.clone(),
    }
}

fn serve(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::GET])?;
    let base = base_url(state, req);
    let mut response = match route_key(req).as_str() {
        "GET /.well-known/openid-configuration" => json(
            StatusCode::OK,
            &json!({
                "issuer": state.tokens.issuer(),
                "jwks_uri": format!("{base}/.well-known/jwks.json"),
                "token_endpoint": format!("{base}/auth/login"),
                "grant_types_supported": ["password"],
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["EdDSA"],
                "token_endpoint_auth_methods_supported": ["none"],
            }),
        )?,
        "GET /.well-known/jwks.json" => json(StatusCode::OK, state.tokens.jwks())?,
        _ => return Err(ApiError::NoRoute),
    };
    // Keys change rarely; a short cache keeps rotation quick.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
