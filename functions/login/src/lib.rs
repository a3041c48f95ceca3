//! `POST /auth/login`: exchanges email and password for an access token.
//!
//! Accepts JSON `{email, password, device_token?}` or the OAuth2 password
//! form (`username`, `password`, optional `grant_type=password`,
//! `device_token`). A success answers with a `device_token` too: the client
//! keeps it and sends it with its next sign-ins, and strangers' failures
//! never lock that device out (OWASP's device cookie; see
//! `shared::rate_limit`). When strangers' failures have locked the account
//! for unknown devices, the 429 says so and the account's address gets a
//! sign-in link (at most one per window), which
//! `POST /auth/login/link {token}` exchanges, once, within 15 minutes, for a
//! session and a trusted device. Unknown email,
//! wrong password and deactivated account all get the same 401, and cost
//! the same: an unknown email is verified against a dummy hash, after the
//! same two store reads as a known one.

use std::sync::Arc;

use edge::ApiError;
use edge::error::FieldError;
use edge::http::{FormOrJson, allow, client_info, form_or_json_body, respond};
use http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use shared::AppState;
use shared::domain::Email;
use shared::password::{self, Verdict};
use shared::rate_limit::{LimitError, STRANGERS};

mod link;

/// The one answer for every failed login.
pub const BAD_CREDENTIALS: &str = "Incorrect email or password.";

#[derive(Deserialize)]
struct JsonLogin {
    email: Option<String>,
    password: Option<String>,
    device_token: Option<String>,
}

#[derive(Deserialize)]
struct FormLogin {
    username: Option<String>,
    password: Option<String>,
    grant_type: Option<String>,
    device_token: Option<String>,
}

/// The longest address accepted (RFC 5321's path limit): a longer one is no
/// account's, and must not become a counter's key.
const MAX_EMAIL: usize = 320;

/// What a sign-in presents.
struct Credentials {
    email: String,
    password: String,
    device_token: Option<String>,
}

pub use edge::sign_in::{TokenResponse, grant, tokens_response};

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    let result = match edge::http::route_key(&req).as_str() {
        "POST /auth/login" => login(&state, &req).await,
        "POST /auth/login/link" => link::sign_in(&state, &req).await,
        _ => Err(ApiError::NoRoute),
    };
    respond(result)
}

/// Reads the credentials from either body format.
fn credentials(req: &Request) -> Result<Credentials, ApiError> {
    let (field, email, password, device_token) = match form_or_json_body(req)? {
        FormOrJson::Form(FormLogin {
            username,
            password,
            grant_type,
            device_token,
        }) => {
            if grant_type.as_deref().is_some_and(|g| g != "password") {
                return Err(ApiError::field("grant_type", "must be \"password\""));
            }
            ("username", username, password, device_token)
        }
        FormOrJson::Json(JsonLogin {
            email,
            password,
            device_token,
        }) => ("email", email, password, device_token),
    };
    let mut errors = Vec::new();
    if email.as_ref().is_none_or(|e| e.trim().is_empty()) {
        errors.push(FieldError::new(field, "is required"));
    } else if email.as_ref().is_some_and(|e| e.trim().len() > MAX_EMAIL) {
        errors.push(FieldError::new(field, "is longer than 320 characters"));
    }
    if password.as_ref().is_none_or(String::is_empty) {
        errors.push(FieldError::new("password", "is required"));
    }
    // The pages keep the device token in an HttpOnly cookie (cookie mode).
    let device_token =
        device_token.or_else(|| edge::sign_in::cookie_value(req, edge::sign_in::DEVICE_COOKIE));
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok(Credentials {
            email,
            password,
            device_token,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

async fn login(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::POST])?;
    // A fresh process's working set is allocated while the attempt is
    // counted and the account read.
    password::prepare_working_set();
    let Credentials {
        email,
        password,
        device_token,
    } = credentials(req)?;
    let client = client_info(req);
    let account = email.trim().to_lowercase();
    // The attempt is counted before the password is verified: parallel
    // guesses cannot get more verifications than the limits allow.
    let attempt = match state
        .login_limiter
        .attempt(&account, client.ip.as_deref(), device_token.as_deref())
        .await
    {
        Ok(attempt) => attempt,
        Err(LimitError::Limited {
            retry_after_secs,
            counter,
        }) if counter == STRANGERS => {
            link::offer(state, &account).await?;
            return Err(ApiError::LockedOut { retry_after_secs });
        }
        Err(e) => return Err(e.into()),
    };
    // A malformed email cannot belong to an account: treat it as unknown.
    // Known or not, the same reads.
    let user = match Email::parse(&email) {
        Ok(email) => state.users.find_by_email_evenly(&email).await?,
        Err(_) => None,
    };
    let verdict = password::verify(
        password.clone(),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await?;
    let user = match (verdict, user) {
        // While sign-up conceals taken addresses, an unverified account
        // does not sign in: otherwise signing in with the password just
        // chosen would tell whether the sign-up created the account.
        (Verdict::Valid { needs_rehash }, Some(user))
            if user.active && (user.email_verified || !*state.config.signup_conceals_existing) =>
        {
            if needs_rehash {
                rehash(state, &user, password).await;
            }
            user
        }
        (_, user) => {
            let user_id = user.as_ref().map(|u| u.id.as_str());
            state
                .audit
                .record(
                    "login.failed",
                    None,
                    user_id,
                    &client,
                    json!({ "email": account }),
                )
                .await?;
            return Err(ApiError::Unauthorized(BAD_CREDENTIALS));
        }
    };
    let issued = state
        .sessions
        .start(&user.id, &client, "login.succeeded")
        .await?;
    // Past the cap, the oldest sessions end. (After the new one is stored:
    // a failure here leaves one session too many until the next login.)
    if let Err(e) = state
        .sessions
        .enforce_cap(&user, *state.config.max_sessions_per_user as usize)
        .await
    {
        tracing::warn!(error = %e, "could not enforce the session cap");
    }
    // The attempt does not count, and the device is trusted from now on.
    // (After the session is stored: a failure here only keeps a counter.)
    let device = match state.login_limiter.succeeded(&account, attempt).await {
        Ok(device) => Some(device),
        Err(e) => {
            tracing::warn!(error = %e, "could not settle the login counters");
            None
        }
    };
    grant(state, req, &user, issued, device)
}

/// Upgrades a hash made with older parameters; a failure only means the
/// upgrade waits for the next login.
async fn rehash(state: &AppState, user: &shared::domain::User, password: String) {
    let result = async {
        let mut updated = user.clone();
        updated.password_hash = password::hash(password).await?;
        state.users.save(&updated).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(user_id = %user.id, error = %e, "password rehash failed");
    }
}
