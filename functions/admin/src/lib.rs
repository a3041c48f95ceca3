//! Administration (protected; role `admin`, checked here on every request
//! against the role the authorizer read from the user record, so a demoted
//! admin loses access at once locally and within the authorizer cache TTL
//! on AWS):
//! - `GET /admin/users?limit=&cursor=&q=&active=`: users in email order; `q`
//!   is an email prefix, or `@` and a username prefix; `active=true|false`
//!   filters;
//! - `GET /admin/users/{id}`, `PATCH /admin/users/{id}` `{role}`,
//!   `DELETE /admin/users/{id}`;
//! - `POST /admin/users/{id}/deactivate` (ends all their sessions at once)
//!   and `/activate`;
//! - `GET /admin/audit?user_id=&limit=&cursor=`, newest first;
//! - `GET /admin/events/dead-letters`: how many user events wait in the
//!   dead-letter queue (`{count}`, SQS's approximate number);
//! - `POST /admin/events/redrive`: moves dead-lettered user events back to
//!   the queue.
//!
//! An admin cannot deactivate, demote or delete themselves (400).
//! Non-admins get 403.

use std::sync::Arc;

use edge::ApiError;
use edge::http::{
    Caller, client_info, json, json_body, no_content, paging, path_param, query_param, respond,
    route_key,
};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use shared::AppState;
use shared::domain::{PublicUser, Role, SessionCutoff, User};
use shared::events::{USER_ACTIVATED, USER_DEACTIVATED, USER_UPDATED, UserEvent};
use shared::ports::Write;
use shared::repo::AuditRepo;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    edge::idempotency::once(state, req, serve).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req)?;
    caller.require_admin()?;
    let client = client_info(req);
    let route = route_key(req);
    match route.as_str() {
        "GET /admin/users" => list_users(state, req).await,
        "GET /admin/audit" => audit(state, req).await,
        "GET /admin/events/dead-letters" => {
            let count = state
                .queue
                .dead_letter_count()
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            json(StatusCode::OK, &json!({ "count": count }))
        }
        "POST /admin/events/redrive" => {
            let moved = state
                .queue
                .redrive_dead_letters()
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            // The move itself is the queue's, outside any commit: the
            // answer is kept with its audit entry.
            let answer = json(StatusCode::OK, &json!({ "moved": moved }))?;
            let entry = AuditRepo::entry(
                "admin.events.redriven",
                Some(&caller.user_id),
                None,
                &client,
                json!({ "moved": moved }),
            )?;
            let keyed = edge::idempotency::answer_writes(req, &answer);
            state.audit.record_with(entry, keyed).await?;
            Ok(answer)
        }
        "GET /admin/users/{id}" => {
            let user = target(state, req).await?;
            json(StatusCode::OK, &PublicUser::from(&user))
        }
        "POST /admin/users/{id}/deactivate" | "POST /admin/users/{id}/activate" => {
            let active = route.ends_with("/activate");
            let mut user = target(state, req).await?;
            if user.id == caller.user_id && !active {
                return Err(ApiError::BadRequest(
                    "You cannot deactivate yourself.".into(),
                ));
            }
            user.active = active;
            if !active {
                // Every session ends with the deactivation, in the same write.
                user.sessions_cutoff = Some(SessionCutoff::now(None));
            }
            let (kind, action) = if active {
                (USER_ACTIVATED, "admin.user.activated")
            } else {
                (USER_DEACTIVATED, "admin.user.deactivated")
            };
            let audit = AuditRepo::entry(
                action,
                Some(&caller.user_id),
                Some(&user.id),
                &client,
                json!({}),
            )?;
            save(state, req, &user, kind, audit).await
        }
        "PATCH /admin/users/{id}" => {
            #[derive(Deserialize)]
            struct RolePatch {
                role: Option<Role>,
            }
            let body: RolePatch = json_body(req)?;
            let role = body
                .role
                .ok_or_else(|| ApiError::field("role", "is required (\"user\" or \"admin\")"))?;
            let mut user = target(state, req).await?;
            if user.id == caller.user_id && role != Role::Admin {
                return Err(ApiError::BadRequest("You cannot demote yourself.".into()));
            }
            let before = user.role;
            user.role = role;
            let audit = AuditRepo::entry(
                "admin.user.role_changed",
                Some(&caller.user_id),
                Some(&user.id),
                &client,
                json!({ "from": before, "to": role }),
            )?;
            save(state, req, &user, USER_UPDATED, audit).await
        }
        "DELETE /admin/users/{id}" => {
            let user = target(state, req).await?;
            if user.id == caller.user_id {
                return Err(ApiError::BadRequest(
                    "You cannot delete yourself here; use DELETE /users/me.".into(),
                ));
            }
            let answer = no_content();
            let keyed = edge::idempotency::answer_writes(req, &answer);
            if !shared::accounts::delete_account(
                &state.users,
                &state.outbox,
                &user,
                &caller.user_id,
                &client,
                keyed,
            )
            .await?
            {
                return Err(ApiError::Conflict(
                    "The user changed meanwhile; try again.".into(),
                ));
            }
            Ok(answer)
        }
        _ => Err(ApiError::NoRoute),
    }
}

async fn target(state: &AppState, req: &Request) -> Result<User, ApiError> {
    let id = path_param(req, "id")?;
    state.users.get(&id).await?.ok_or(ApiError::NotFound)
}

/// Saves an admin's change to a user with its event, its audit entry and
/// (under an `Idempotency-Key`) its answer, all in one transaction, then
/// dispatches the event; answers the saved user.
async fn save(
    state: &AppState,
    req: &Request,
    user: &User,
    kind: &str,
    audit: Write,
) -> Result<Response<Body>, ApiError> {
    let (save, next) = state.users.next_version(user)?;
    let event = UserEvent::with_user(kind, &next);
    let answer = json(StatusCode::OK, &PublicUser::from(&next))?;
    state
        .outbox
        .announce(event)?
        .and(audit)
        .and_all(edge::idempotency::answer_writes(req, &answer))
        .commit(|writes| state.users.write_next(save, next, writes))
        .await?
        .ok_or_else(|| ApiError::Conflict("The user changed meanwhile; try again.".into()))?;
    Ok(answer)
}

async fn list_users(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let (limit, mut cursor) = paging(req)?;
    let active = match query_param(req, "active") {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::field("active", "must be true or false")),
    };
    let q = query_param(req, "q")
        .map(str::trim)
        .filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 254) {
        return Err(ApiError::field("q", "must be at most 254 characters"));
    }
    // Fill the page even when the `active` filter drops users.
    let mut items = Vec::new();
    loop {
        // Ask only for what is missing, so the cursor never skips a user.
        let want = limit - items.len() as u32;
        let (users, next) = match q.and_then(|q| q.strip_prefix('@')) {
            Some(name) => state.users.list_by_username(name, want, cursor).await?,
            None => state.users.list(q, want, cursor).await?,
        };
        items.extend(
            users
                .iter()
                .filter(|u| active.is_none_or(|a| u.active == a))
                .map(PublicUser::from),
        );
        cursor = next;
        if items.len() >= limit as usize || cursor.is_none() {
            break;
        }
    }
    json(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    )
}

async fn audit(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let (limit, cursor) = paging(req)?;
    let user_id = query_param(req, "user_id").filter(|u| !u.is_empty());
    if user_id.is_some_and(|u| u.len() > 100) {
        return Err(ApiError::field("user_id", "is not a user id"));
    }
    let (items, next) = state.audit.list(user_id, limit, cursor).await?;
    json(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": next }),
    )
}
