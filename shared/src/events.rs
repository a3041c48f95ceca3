//! User events: one versioned JSON envelope for every type.
//!
//! ```json
//! {"event_id": "0193…", "type": "user.created", "version": 1,
//!  "occurred_at": "2026-11-24T09:30:00Z", "user_id": "0193…", "data": {…}}
//! ```
//! `data` never carries a password hash or a token.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::domain::{PublicUser, User};

/// The envelope version; bump it when `data` changes incompatibly.
pub const EVENT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub user_id: String,
    pub data: Value,
}

pub const USER_CREATED: &str = "user.created";
pub const USER_UPDATED: &str = "user.updated";
pub const USER_DEACTIVATED: &str = "user.deactivated";
pub const USER_ACTIVATED: &str = "user.activated";
pub const USER_DELETED: &str = "user.deleted";
pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
/// The user asked for a new verification link.
pub const USER_VERIFICATION_REQUESTED: &str = "user.verification_requested";
pub const USER_EMAIL_VERIFIED: &str = "user.email_verified";
/// Someone asked to reset the password of an address (`user_id` is empty:
/// the request does not know, and must not look up, whether it exists).
pub const PASSWORD_RESET_REQUESTED: &str = "password.reset_requested";
/// Someone signed up with an address an account already has, while
/// sign-up conceals that (`data.email`; `user_id` empty): the consumer mails
/// the owner.
pub const SIGNUP_EXISTING_ADDRESS: &str = "signup.existing_address";
/// An unknown device hit an account's lock for strangers (`data.email`;
/// `user_id` empty): the consumer mails the owner a sign-in link.
pub const LOGIN_LINK_REQUESTED: &str = "login.link_requested";
/// `data.new_email`: the address to confirm.
pub const USER_EMAIL_CHANGE_REQUESTED: &str = "user.email_change_requested";
/// `data.email`, `data.previous_email`: the consumer mails the previous
/// address what happened and a link that undoes it.
pub const USER_EMAIL_CHANGED: &str = "user.email_changed";
/// The previous owner of an address took the account back through that link.
pub const USER_EMAIL_REVERTED: &str = "user.email_reverted";

impl UserEvent {
    pub fn new(kind: &str, user_id: &str, data: Value) -> Self {
        UserEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            kind: kind.into(),
            version: EVENT_VERSION,
            occurred_at: OffsetDateTime::now_utc(),
            user_id: user_id.into(),
            data,
        }
    }

    /// `user.created` / `user.updated` carry the public view of the user.
    pub fn with_user(kind: &str, user: &User) -> Self {
        Self::new(kind, &user.id, json!({ "user": PublicUser::from(user) }))
    }
}
