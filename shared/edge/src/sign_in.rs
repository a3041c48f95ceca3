//! The answer of every sign-in: a login, a sign-in link, a refresh. Here,
//! not in the login function, so `refresh` shares it without linking what
//! login alone needs (its queue client).

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::http::json;
use shared::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// Opaque; exchange it at `POST /auth/refresh` (it rotates on every use).
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    /// After a sign-in (not a refresh): the token that makes this device
    /// trusted by the account; send it as `device_token` with the next
    /// sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

/// Issues an access token for a session and answers with the token pair
/// (login and refresh end the same way; their audit entries were written
/// with the session).
pub fn grant(
    state: &AppState,
    user: &shared::domain::User,
    issued: shared::repo::sessions::Issued,
    device_token: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let (token, _) = state
        .tokens
        .issue(user, &issued.session.id)
        .map_err(ApiError::internal)?;
    tokens_response(state, token, issued, device_token)
}

/// The token answer of login and refresh (never cached).
pub fn tokens_response(
    state: &AppState,
    access_token: String,
    issued: shared::repo::sessions::Issued,
    device_token: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: issued.refresh_token,
        refresh_expires_in: (issued.session.idle_expires_at - now).max(0) as u64,
        device_token,
    };
    let mut response = json(StatusCode::OK, &body)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
