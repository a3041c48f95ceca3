//! Account-wide operations shared by the profile and admin functions.

use serde_json::json;

use crate::domain::ClientInfo;
use crate::domain::User;
use crate::events::{USER_DELETED, UserEvent};
use crate::outbox::Outbox;
use crate::ports::item_store::Write;
use crate::repo::{AuditRepo, RepoError, UserRepo};

/// Deletes a user: the profile and its email and username claims go in one
/// transaction with the `user.deleted` event and the audit entry (in the
/// trail, by id only: no email). Everything else kept about the user
/// (sessions, refresh tokens, audit entries, login counters, tasks, orders,
/// files) is removed by the `user.deleted` consumer, which SQS retries until
/// it is done; until then the authorizer already refuses every token of the
/// deleted user, whose profile is gone. `Ok(false)`, with nothing written,
/// when the account changed since `user` was read.
pub async fn delete_account(
    users: &UserRepo,
    outbox: &Outbox,
    user: &User,
    actor_id: &str,
    client: &ClientInfo,
    extra: Vec<Write>,
) -> Result<bool, RepoError> {
    let event = UserEvent::new(
        USER_DELETED,
        &user.id,
        json!({ "email": user.email.as_str() }),
    );
    let action = if actor_id == user.id {
        "user.deleted"
    } else {
        "admin.user.deleted"
    };
    let audit = AuditRepo::deletion_entry(action, Some(actor_id), &user.id, client)?;
    outbox
        .announce(event)?
        .and(audit)
        .and_all(extra)
        .commit(|writes| users.delete(user, writes))
        .await
}
