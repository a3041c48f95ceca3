//! The caller's sessions (all protected):
//! - `POST /auth/logout` ends the current session;
//! - `POST /auth/logout-all` ends every session of the caller;
//! - `GET /auth/sessions` lists them; `DELETE /auth/sessions/{id}` ends one;
//! - `POST /auth/password` changes the password and ends all other sessions.
//!
//! An ended session's access tokens fail at the authorizer at once.

use std::sync::Arc;

use edge::ApiError;
use edge::error::FieldError;
use edge::http::{Caller, ClientInfo, json, json_body, no_content, path_param, respond, route_key};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::AppState;
use shared::domain::{NewPassword, SessionCutoff};
use shared::events::{USER_PASSWORD_CHANGED, UserEvent};
use shared::password::{self, Verdict};
use shared::repo::AuditRepo;
use time::OffsetDateTime;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req)?;
    let client = edge::http::client_info(req);
    match route_key(req).as_str() {
        "POST /auth/logout" => {
            let audit = AuditRepo::entry(
                "logout",
                Some(&caller.user_id),
                None,
                &client,
                json!({ "session_id": caller.session_id }),
            )?;
            state
                .sessions
                .revoke_with(&caller.user_id, &caller.session_id, vec![audit])
                .await?;
            let mut response = no_content();
            // The pages' refresh cookie ends with the session (cookie mode).
            edge::sign_in::clear_refresh_cookie(req, &mut response);
            Ok(response)
        }
        "POST /auth/logout-all" => {
            // One write, however many sessions: every session started until
            // now is over (the authorizer, validate-token and refresh check
            // the cut-off), recorded in the same transaction.
            let audit = AuditRepo::entry(
                "logout.all",
                Some(&caller.user_id),
                None,
                &client,
                json!({}),
            )?;
            if !state
                .users
                .cut_sessions(&caller.user_id, SessionCutoff::now(None), vec![audit])
                .await?
            {
                return Err(ApiError::NotFound);
            }
            let mut response = no_content();
            // The pages' refresh cookie ends with the session (cookie mode).
            edge::sign_in::clear_refresh_cookie(req, &mut response);
            Ok(response)
        }
        "GET /auth/sessions" => list(state, &caller).await,
        "DELETE /auth/sessions/{id}" => {
            let id = path_param(req, "id")?;
            // Only the caller's own sessions exist for them: others are 404.
            if state.sessions.get(&caller.user_id, &id).await?.is_none() {
                return Err(ApiError::NotFound);
            }
            let audit = AuditRepo::entry(
                "session.revoked",
                Some(&caller.user_id),
                None,
                &client,
                json!({ "session_id": id }),
            )?;
            state
                .sessions
                .revoke_with(&caller.user_id, &id, vec![audit])
                .await?;
            Ok(no_content())
        }
        "POST /auth/password" => change_password(state, req, &caller, &client).await,
        _ => Err(ApiError::NoRoute),
    }
}

#[derive(Serialize)]
struct SessionView {
    id: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_used_at: OffsetDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
    /// The session of the token making this request.
    current: bool,
    /// Not ended and not expired.
    active: bool,
}

async fn list(state: &AppState, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (user, sessions) = tokio::join!(
        state.users.get(&caller.user_id),
        state.sessions.list(&caller.user_id)
    );
    let user = user?.ok_or(ApiError::NotFound)?;
    let items: Vec<SessionView> = sessions?
        .into_iter()
        .map(|s| SessionView {
            current: s.id == caller.session_id,
            active: s.is_live(now) && user.allows_session(&s.id, s.created_at),
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    json(StatusCode::OK, &json!({ "items": items }))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: Option<String>,
    new_password: Option<String>,
}

async fn change_password(
    state: &AppState,
    req: &Request,
    caller: &Caller,
    client: &ClientInfo,
) -> Result<Response<Body>, ApiError> {
    let body: PasswordChange = json_body(req)?;
    let mut errors = Vec::new();
    if body.current_password.as_deref().is_none_or(str::is_empty) {
        errors.push(FieldError::new("current_password", "is required"));
    }
    let user = state
        .users
        .get(&caller.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("Authentication is required."))?;
    let inputs = user.guessable_words();
    let new_password = match body.new_password.as_deref() {
        None => {
            errors.push(FieldError::new("new_password", "is required"));
            None
        }
        Some(raw) => match NewPassword::parse(raw, &inputs) {
            Ok(p) => Some(p),
            Err(m) => {
                errors.push(FieldError::new("new_password", m));
                None
            }
        },
    };
    let (Some(current), Some(new_password)) = (body.current_password, new_password) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Guessing the current password with a stolen access token is limited,
    // in the user's own scope (a stranger cannot spend it; it is not the
    // login's).
    state.login_limiter.reauth_attempt(&user.id).await?;
    if password::verify(current, Some(user.password_hash.clone())).await? == Verdict::Invalid {
        return Err(ApiError::field("current_password", "is incorrect"));
    }
    let mut updated = user.clone();
    updated.password_hash = password::hash(new_password.into_inner()).await?;
    // Every other session ends with the change, in the same write.
    updated.sessions_cutoff = Some(SessionCutoff::now(Some(&caller.session_id)));
    let event = UserEvent::new(USER_PASSWORD_CHANGED, &user.id, json!({}));
    let audit = AuditRepo::entry(
        "password.changed",
        Some(&caller.user_id),
        None,
        client,
        json!({ "other_sessions_ended": true }),
    )?;
    state
        .outbox
        .announce(event)?
        .and(audit)
        .commit(|writes| state.users.save_with(&updated, writes))
        .await?
        .ok_or_else(|| ApiError::Conflict("The account changed meanwhile; try again.".into()))?;
    Ok(no_content())
}
