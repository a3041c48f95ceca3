//! Account-wide operations shared by the profile and admin functions.

use serde_json::json;

use crate::domain::User;
use crate::error::ApiError;
use crate::events::{USER_DELETED, UserEvent};
use crate::http::ClientInfo;
use crate::outbox;
use crate::state::AppState;

/// Deletes a user and everything kept about them: profile, email and
/// username claims, sessions, refresh tokens, audit entries and login
/// counters. One audit entry records the deletion by id only (no email).
pub async fn delete_account(
    state: &AppState,
    user: &User,
    actor_id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    // The user goes first (conditionally on its version): once it is gone no
    // token of theirs passes the authorizer, whatever happens next.
    let event = UserEvent::new(USER_DELETED, &user.id, json!({}));
    if !state
        .users
        .delete(user, vec![outbox::record(&event)])
        .await?
    {
        return Err(ApiError::Conflict(
            "The account changed meanwhile; try again.".into(),
        ));
    }
    outbox::dispatch_after_commit(&state.outbox, &[event]).await;
    state.sessions.delete_all(&user.id).await?;
    state.audit.delete_for_user(&user.id).await?;
    state.login_limiter.forget(user.email.as_str()).await?;
    let action = if actor_id == user.id {
        "user.deleted"
    } else {
        "admin.user.deleted"
    };
    let actor = (actor_id != user.id).then_some(actor_id);
    state
        .audit
        .record(
            action,
            actor,
            None,
            client,
            json!({ "deleted_user_id": user.id }),
        )
        .await
}
