//! Token checking, in two shapes that share one code path
//! ([`edge::auth::verify_access_token`]):
//! - `POST /auth/validate-token {token}` for clients and other services;
//! - the API Gateway HTTP API Lambda authorizer (REQUEST type, payload 2.0,
//!   simple responses), whose `context` reaches every protected handler as
//!   `requestContext.authorizer.lambda`.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use edge::ApiError;
use edge::auth::{bearer, verify_access_token};
use edge::http::{Caller, allow, json, json_body, respond};
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::AppState;

#[derive(Deserialize)]
struct ValidateRequest {
    token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidateResponse {
    pub valid: bool,
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub session_id: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// What the authorizer tells API Gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub is_authorized: bool,
    /// Passed to the integration as `requestContext.authorizer.lambda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The caller as every protected handler reads it back
    /// ([`Caller::from_request`]): one type on both sides of the gateway.
    pub context: Option<Caller>,
}

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(validate(&state, &req).await)
}

async fn validate(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::POST])?;
    let body: ValidateRequest = json_body(req)?;
    let token = body
        .token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::field("token", "is required"))?;
    let authenticated = verify_access_token(state, token.trim()).await?;
    let claims = authenticated.claims;
    let expires_at = time::OffsetDateTime::from_unix_timestamp(claims.exp as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    json(
        StatusCode::OK,
        &ValidateResponse {
            valid: true,
            user_id: claims.sub,
            email: authenticated.user.email.as_str().to_owned(),
            role: authenticated.user.role.as_str().to_owned(),
            session_id: claims.sid,
            expires_at,
        },
    )
}

/// The authorizer could not decide: a dependency failed. The Lambda
/// invocation then fails, so API Gateway answers 500 and caches nothing (a
/// "deny" would be cached for the cache TTL and lock the caller out).
#[derive(Debug, thiserror::Error)]
#[error("the authorizer could not check the token: {0}")]
pub struct AuthorizerError(pub ApiError);

/// The authorizer: allows a request whose `Authorization: Bearer` token
/// verifies, denies every other, and fails (rather than deny) when the
/// store cannot say whether the session is live.
pub async fn authorize(
    state: &AppState,
    event: &ApiGatewayV2CustomAuthorizerV2Request,
) -> Result<AuthorizerResponse, AuthorizerError> {
    let header = event
        .identity_source
        .as_ref()
        .and_then(|sources| sources.first().cloned())
        .or_else(|| {
            event
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    let deny = AuthorizerResponse {
        is_authorized: false,
        context: None,
    };
    let Some(token) = header.as_deref().and_then(bearer) else {
        return Ok(deny);
    };
    match verify_access_token(state, token).await {
        Ok(a) => Ok(AuthorizerResponse {
            is_authorized: true,
            context: Some(a.caller()),
        }),
        Err(ApiError::Unauthorized(_)) => Ok(deny),
        Err(e) => {
            tracing::error!(error = %e, "authorizer: could not check the token");
            Err(AuthorizerError(e))
        }
    }
}
