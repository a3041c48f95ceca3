//! The answer of every sign-in: a login, a sign-in link, a refresh. Here,
//! not in the login function, so `refresh` shares it without linking what
//! login alone needs (its queue client).
//!
//! **Cookie mode**, for the hosted pages (`functions/web`): a request with
//! `X-Refresh-Cookie: 1` gets its refresh token (and a sign-in's device
//! token) as `HttpOnly; Secure; SameSite=Strict` cookies scoped to the
//! routes that read them (`/auth/refresh`; `/auth` for the device token),
//! instead of in the body, so the pages' script never holds a long-lived
//! token. A cookie-authenticated call (a refresh from the
//! cookie) must also come from the same origin: `SameSite=Strict` keeps the
//! cookie off other sites' requests, the custom header is not among the CORS
//! policy's allowed headers (so no other origin, not even `AppOrigin`, gets
//! past the preflight), and `Origin` and `Sec-Fetch-Site`, when the browser
//! sends them, must say so.

use cookie::{Cookie, SameSite};
use headers::HeaderMapExt;
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::http::json;
use shared::AppState;
use shared::rate_limit::DEVICE_FOR_SECS;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// Opaque; exchange it at `POST /auth/refresh` (it rotates on every use).
    /// Left out in cookie mode (it is in the `up_refresh` cookie).
    #[serde(default, skip_serializing_if = "String::is_empty")]
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
    req: &Request,
    user: &shared::domain::User,
    issued: shared::repo::sessions::Issued,
    device_token: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let (token, _) = state
        .tokens
        .issue(user, &issued.session.id)
        .map_err(ApiError::internal)?;
    tokens_response(state, req, token, issued, device_token)
}

/// The token answer of login and refresh (never cached).
pub fn tokens_response(
    state: &AppState,
    req: &Request,
    access_token: String,
    issued: shared::repo::sessions::Issued,
    device_token: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let refresh_expires_in = (issued.session.idle_expires_at - now).max(0) as u64;
    let cookies = wants_cookie(req);
    let mut body = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: issued.refresh_token,
        refresh_expires_in,
        device_token,
    };
    let mut set = Vec::new();
    if cookies {
        let base = crate::http::base_path(req);
        let refresh = std::mem::take(&mut body.refresh_token);
        set.push(cookie(
            REFRESH_COOKIE,
            refresh,
            format!("{base}/auth/refresh"),
            refresh_expires_in as i64,
        ));
        if let Some(device) = body.device_token.take() {
            set.push(cookie(
                DEVICE_COOKIE,
                device,
                format!("{base}/auth"),
                DEVICE_FOR_SECS,
            ));
        }
    }
    let mut response = json(StatusCode::OK, &body)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    for value in set {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The header a page sends to ask for cookie mode.
pub const COOKIE_MODE: &str = "x-refresh-cookie";
/// The refresh token's cookie (path: the refresh route).
pub const REFRESH_COOKIE: &str = "up_refresh";
/// The device token's cookie (path: `/auth`, for the sign-ins and the
/// password reset request, where a trusted device has its own allowance).
pub const DEVICE_COOKIE: &str = "up_device";

/// Whether the request asks for cookie mode.
pub fn wants_cookie(req: &Request) -> bool {
    req.headers().get(COOKIE_MODE).is_some_and(|v| v == "1")
}

fn cookie(name: &'static str, value: String, path: String, max_age_secs: i64) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    // Our names, base64url tokens and an API path: always a valid value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A cookie the request carries, in cookie mode only. A name sent twice is
/// none at all: a sibling subdomain can plant a second `up_refresh` (with a
/// `Domain` attribute) that the browser sends beside ours, and neither may
/// then be trusted to be ours.
pub fn cookie_value(req: &Request, name: &str) -> Option<String> {
    if !wants_cookie(req) {
        return None;
    }
    let cookies = req.headers().typed_get::<headers::Cookie>()?;
    if cookies.iter().filter(|(n, _)| *n == name).count() != 1 {
        return None;
    }
    cookies.get(name).map(str::to_owned)
}

/// Refuses a cookie-authenticated call that a browser says came from
/// another site (`Sec-Fetch-Site`) or another origin (`Origin` against
/// `Host`). Clients that send neither (not browsers) pass: they hold no
/// cookie a page could make them send.
pub fn same_origin(req: &Request) -> Result<(), ApiError> {
    let headers = req.headers();
    // The scheme too, where the gateway says which one the request used.
    if let (Some(origin), Some(proto)) = (
        headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()),
        headers
            .get("x-forwarded-proto")
            .and_then(|p| p.to_str().ok()),
    ) && !origin.starts_with(&format!("{proto}://"))
    {
        return Err(ApiError::Forbidden);
    }
    if let Some(site) = headers.get("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return Err(ApiError::Forbidden);
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority);
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if authority.is_none() || authority != host {
            return Err(ApiError::Forbidden);
        }
    }
    Ok(())
}

/// Ends the refresh cookie (sign-out): the same name and path, expired.
pub fn clear_refresh_cookie(req: &Request, response: &mut Response<Body>) {
    if wants_cookie(req) {
        let path = format!("{}/auth/refresh", crate::http::base_path(req));
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie(REFRESH_COOKIE, String::new(), path, 0),
        );
    }
}
