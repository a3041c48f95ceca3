//! `POST /auth/refresh`: exchanges a refresh token for a new access token and
//! a new refresh token (rotation). Accepts JSON `{refresh_token}` or the
//! OAuth2 form `grant_type=refresh_token&refresh_token=...`; in cookie mode
//! (`X-Refresh-Cookie: 1`, the hosted pages) `{}` and the `up_refresh`
//! cookie, from the same origin only (`edge::sign_in`).
//!
//! A token works once. Of several parallel refreshes with one token exactly
//! one succeeds; presenting a used token again after the grace window
//! revokes its whole session (see `shared::repo::sessions`).

use std::sync::Arc;

use edge::ApiError;
use edge::http::{FormOrJson, allow, client_info, form_or_json_body, respond};
use http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::AppState;
use shared::repo::sessions::Rotation;

pub const INVALID_REFRESH: &str = "The refresh token is invalid or has expired.";

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: Option<String>,
    grant_type: Option<String>,
}

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(refresh(&state, &req).await)
}

fn read(req: &Request) -> Result<String, ApiError> {
    let body = match form_or_json_body::<RefreshRequest, RefreshRequest>(req)? {
        FormOrJson::Form(form) => {
            if form.grant_type.as_deref() != Some("refresh_token") {
                return Err(ApiError::field("grant_type", "must be \"refresh_token\""));
            }
            form
        }
        FormOrJson::Json(body) => body,
    };
    if let Some(token) = body.refresh_token.filter(|t| !t.trim().is_empty()) {
        return Ok(token.trim().to_owned());
    }
    // Cookie mode (the hosted pages): the token is the HttpOnly cookie, and
    // only a same-origin page may spend it.
    if edge::sign_in::wants_cookie(req) {
        edge::sign_in::same_origin(req)?;
        return edge::sign_in::cookie_value(req, edge::sign_in::REFRESH_COOKIE)
            .ok_or(ApiError::Unauthorized(INVALID_REFRESH));
    }
    Err(ApiError::field("refresh_token", "is required"))
}

async fn refresh(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::POST])?;
    let token = read(req)?;
    if token.len() > 256 {
        return Err(ApiError::Unauthorized(INVALID_REFRESH));
    }
    let client = client_info(req);
    let rotation = state
        .sessions
        .rotate(&token, &client, |user_id| async move {
            state.users.get(&user_id).await
        })
        .await?;
    match rotation {
        // Nothing is read or written after the exchange committed: the
        // answer cannot fail and lose the new refresh token.
        Rotation::Rotated { issued, user } => edge::sign_in::grant(state, req, &user, issued, None),
        Rotation::Invalid => Err(ApiError::Unauthorized(INVALID_REFRESH)),
        Rotation::ReuseDetected {
            user_id,
            session_id,
        } => {
            // The revocation and its audit entry were one transaction.
            tracing::warn!(%user_id, %session_id, "refresh token reuse: session revoked");
            Err(ApiError::Unauthorized(INVALID_REFRESH))
        }
    }
}
