//! The `user-events` consumer (SQS → Lambda, partial batch failures).
//!
//! Idempotent by `event_id`: before any side effect it claims a
//! processed-event record (`EVENT#{id}`, kept 14 days) with a conditional
//! write; a redelivered event that is done is acknowledged without effect,
//! one being handled elsewhere is retried later, and a failed one releases
//! its claim so the retry does the work.
//!
//! - `user.created`: creates the user's settings with their defaults and
//!   sends the welcome mail (unless the user was deleted meanwhile);
//! - `user.deleted`: removes what this service keeps about the user
//!   (settings, sessions and refresh tokens, audit entries, login counters,
//!   tasks, orders, the profile PDF and avatars). Every step is safe to
//!   repeat, so a redelivery after a partial failure finishes the job.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::{Value, json};
use shared::AppState;
use shared::events::{
    EVENT_VERSION, LOGIN_LINK_REQUESTED, PASSWORD_RESET_REQUESTED, SIGNUP_EXISTING_ADDRESS,
    USER_CREATED, USER_DELETED, USER_EMAIL_CHANGE_REQUESTED, USER_EMAIL_CHANGED,
    USER_PASSWORD_CHANGED, USER_VERIFICATION_REQUESTED, UserEvent,
};
use shared::one_time::Purpose;
use shared::ports::item_store::{Change, Condition, StoreError};

/// Why a message was not handled; it is reported failed, so SQS delivers
/// it again, and after the queue's `maxReceiveCount` it goes to the
/// dead-letter queue. The text is logged: it carries no address, token or
/// message body (serde_json's own text can quote the input; only its
/// position is kept).
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("not a user event (line {line}, column {column})")]
    Malformed { line: usize, column: usize },
    #[error("unsupported event version {0}")]
    UnsupportedVersion(u32),
    #[error("{0} without a valid email")]
    NoValidEmail(String),
    /// An event without the data its kind needs.
    #[error("{0}")]
    MissingData(&'static str),
    /// Another invocation holds the event's claim: retried later.
    #[error("being handled elsewhere; retry later")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Repo(#[from] shared::repo::RepoError),
    #[error(transparent)]
    Storage(#[from] shared::service_error::StorageError),
    #[error(transparent)]
    Limit(#[from] shared::rate_limit::LimitError),
    #[error(transparent)]
    Mail(#[from] shared::ports::MailError),
}

/// How long a claim protects an event being handled.
const CLAIM_SECS: i64 = 60;
/// How long processed-event records are kept (longer than any redelivery).
const KEEP_SECS: i64 = 14 * 86_400;

pub async fn handle(state: Arc<AppState>, event: SqsEvent) -> SqsBatchResponse {
    edge::consumer::process_batch(&event, |m| {
        let state = state.clone();
        let body = m.body.clone().unwrap_or_default();
        async move { handle_message(&state, &body).await }
    })
    .await
}

pub use shared::table_keys::event_settings as settings_key;
use shared::table_keys::processed_event as processed_key;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

enum Claim {
    Mine(i64),
    Done,
    Busy,
}

async fn claim(state: &AppState, event_id: &str) -> Result<Claim, ConsumeError> {
    let key = processed_key(event_id);
    let lease = now() + CLAIM_SECS;
    let item = json!({"pk": key.pk, "sk": key.sk, "status": "processing", "lease": lease, "expires_at": now() + KEEP_SECS});
    match state
        .store
        .put(
            item.as_object().cloned().unwrap_or_default(),
            Some(Condition::NotExists),
        )
        .await
    {
        Ok(()) => return Ok(Claim::Mine(lease)),
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(current) = state.store.get(&key).await? else {
        return Ok(Claim::Busy);
    };
    if current.get("status").and_then(Value::as_str) == Some("done") {
        return Ok(Claim::Done);
    }
    let old = current.get("lease").cloned().unwrap_or(json!(0));
    if old.as_i64().unwrap_or(0) > now() {
        return Ok(Claim::Busy);
    }
    // The previous handler died: take over its expired claim.
    match state
        .store
        .update(
            key,
            vec![Change::Set("lease".into(), json!(lease))],
            Some(Condition::Equals("lease".into(), old)),
        )
        .await
    {
        Ok(_) => Ok(Claim::Mine(lease)),
        Err(StoreError::ConditionFailed) => Ok(Claim::Busy),
        Err(e) => Err(e.into()),
    }
}

/// Handles one message body; an error reports the message as failed.
pub async fn handle_message(state: &AppState, body: &str) -> Result<(), ConsumeError> {
    let event: UserEvent = serde_json::from_str(body).map_err(|e| ConsumeError::Malformed {
        line: e.line(),
        column: e.column(),
    })?;
    if event.version != EVENT_VERSION {
        return Err(ConsumeError::UnsupportedVersion(event.version));
    }
    let lease = match claim(state, &event.event_id).await? {
        Claim::Mine(lease) => lease,
        Claim::Done => {
            tracing::info!(event_id = %event.event_id, "duplicate delivery ignored");
            return Ok(());
        }
        Claim::Busy => return Err(ConsumeError::Busy),
    };
    let key = processed_key(&event.event_id);
    let mine = Some(Condition::Equals("lease".into(), json!(lease)));
    match apply(state, &event).await {
        Ok(()) => {
            // The work is done whether or not this mark lands. Reporting
            // the message failed would only have it retried into `Busy`
            // while the claim lives (until SQS dead-letters it), and done
            // a second time once the claim lapsed: a second welcome mail.
            if let Err(e) = state
                .store
                .update(key, vec![Change::Set("status".into(), json!("done"))], mine)
                .await
            {
                tracing::warn!(event_id = %event.event_id, error = %e, "handled, but not marked done: its claim lapses");
            }
            Ok(())
        }
        Err(e) => {
            // Without the release the claim lapses after CLAIM_SECS and the
            // retry waits that long; the event is not lost either way.
            if let Err(release) = state.store.delete(key, mine).await {
                tracing::warn!(event_id = %event.event_id, error = %release, "could not release the claim");
            }
            Err(e)
        }
    }
}

async fn apply(state: &AppState, event: &UserEvent) -> Result<(), ConsumeError> {
    match event.kind.as_str() {
        USER_CREATED => {
            // Deleted before we got here: nothing to set up, nobody to greet.
            let Some(user) = state.users.get(&event.user_id).await? else {
                return Ok(());
            };
            let key = settings_key(&event.user_id);
            let settings = json!({
                "pk": key.pk, "sk": key.sk, "user_id": event.user_id,
                "locale": "en", "theme": "system", "email_notifications": true,
                "created_by_event": event.event_id,
            });
            match state
                .store
                .put(
                    settings.as_object().cloned().unwrap_or_default(),
                    Some(Condition::NotExists),
                )
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
            let name = user.name.as_ref().map_or("there", |n| n.as_str());
            let mut text = format!("Hello {name},\n\nyour account is ready. Sign in any time.\n");
            if !user.email_verified {
                let link = mails::verification_link(state, &user).await?;
                text.push_str(&format!(
                    "\nPlease confirm this is your address (the link works for 24 hours):\n{link}\n"
                ));
            }
            text.push_str("\nUser Platform\n");
            mails::send(state, user.email.as_str(), "Welcome to User Platform", text).await
        }
        USER_VERIFICATION_REQUESTED => {
            let Some(user) = mails::user(state, &event.user_id).await? else {
                return Ok(());
            };
            if user.email_verified {
                return Ok(());
            }
            let link = mails::verification_link(state, &user).await?;
            let text = format!(
                "Hello,\n\nconfirm this is your address (the link works for 24 hours; earlier links no longer do):\n{link}\n\nUser Platform\n"
            );
            mails::send(state, user.email.as_str(), "Confirm your address", text).await
        }
        PASSWORD_RESET_REQUESTED => {
            // No account (or an inactive one): nothing is sent, and the
            // requester was told the same as if there were.
            let Some(user) = mails::active_user_of(state, event).await? else {
                return Ok(());
            };
            let link = mails::link(
                state,
                Purpose::ResetPassword,
                &user,
                json!({}),
                "reset-password",
            )
            .await?;
            let text = format!(
                "Hello,\n\nsomeone (hopefully you) asked to reset the password of this account. The link works for an hour, once:\n{link}\n\nIf it was not you, ignore this mail: nothing changes.\n\nUser Platform\n"
            );
            mails::send(state, user.email.as_str(), "Reset your password", text).await
        }
        LOGIN_LINK_REQUESTED => {
            let Some(user) = mails::active_user_of(state, event).await? else {
                return Ok(());
            };
            let text = if user.email_verified {
                let link = mails::link(state, Purpose::SignIn, &user, json!({}), "sign-in").await?;
                format!(
                    "Hello,\n\nmany sign-ins to your account failed from devices it does not know, so it is locked for new devices for a while. Devices you signed in from before still work.\n\nTo sign in from this device anyway, follow this link. It works once, for 15 minutes, and this device is trusted from then on:\n{link}\n\nIf it was not you trying, your account is safe: nobody got in. Consider a longer password.\n\nUser Platform\n"
                )
            } else {
                // An address never proven signs in by proving it (and the
                // password half: see `account-email`), not by a link.
                let link = mails::verification_link(state, &user).await?;
                format!(
                    "Hello,\n\nmany sign-ins to this account failed from devices it does not know. It was never confirmed: confirm it here (with its password, or choose a new one), then sign in:\n{link}\n\nUser Platform\n"
                )
            };
            mails::send(state, user.email.as_str(), "Sign in to User Platform", text).await
        }
        SIGNUP_EXISTING_ADDRESS => {
            let Some(user) = mails::active_user_of(state, event).await? else {
                return Ok(()); // deleted or deactivated meanwhile
            };
            if !state
                .abuse
                .existing_address_notice(user.email.as_str())
                .await?
            {
                return Ok(());
            }
            let base = &state.config.app_base_url;
            let mut text = format!(
                "Hello,\n\nsomeone (perhaps you) tried to sign up with this address, which already has a User Platform account. Nothing was created.\n\nSign in: {base}/login\nForgot the password? Reset it: {base}/reset-password\n"
            );
            if !user.email_verified {
                // Perhaps someone else signed up with this address first:
                // the link lets the mailbox's owner take the account over
                // with a password of their own.
                let link = mails::verification_link(state, &user).await?;
                text.push_str(&format!(
                    "\nThis account was never confirmed. If you did not create it, make it yours: follow this link and choose a password (it works for 24 hours, and signs everyone else out):\n{link}\n"
                ));
            }
            text.push_str("\nUser Platform\n");
            mails::send(
                state,
                user.email.as_str(),
                "Someone tried to sign up with your address",
                text,
            )
            .await
        }
        USER_EMAIL_CHANGE_REQUESTED => {
            let Some(user) = mails::user(state, &event.user_id).await? else {
                return Ok(());
            };
            let (Some(to), Some(from)) = (
                event.data["new_email"].as_str(),
                event.data["from"].as_str(),
            ) else {
                return Err(ConsumeError::MissingData(
                    "email change without its addresses",
                ));
            };
            if from != user.email.as_str() {
                return Ok(()); // superseded by a later change
            }
            // Asked for before something ended the account's sessions (a
            // password reset, say): that ended this request too.
            if event.data["stamp"].as_i64() != Some(user.token_stamp()) {
                tracing::info!(event_id = %event.event_id, "email change ended before its link was sent");
                return Ok(());
            }
            let data = json!({ "new_email": to, "from": from });
            let link =
                mails::link(state, Purpose::ChangeEmail, &user, data, "confirm-email").await?;
            let confirm = format!(
                "Hello,\n\nto make this the address of your User Platform account, follow this link (it works for 24 hours):\n{link}\n\nUser Platform\n"
            );
            mails::send(state, to, "Confirm your new address", confirm).await?;
            let reset = format!("{}/reset-password", state.config.app_base_url);
            let notice = format!(
                "Hello,\n\nsomeone signed in to your account asked to change its address to {to}. Until the link sent there is used (with the account's password), nothing changes.\n\nIf it was not you, reset your password now: {reset}\nA reset cancels the change, ends the link sent to {to} and signs everyone out.\n\nUser Platform\n"
            );
            mails::send(state, from, "A change of address was requested", notice).await
        }
        USER_EMAIL_CHANGED => {
            let (Some(email), Some(previous)) = (
                event.data["email"].as_str(),
                event.data["previous_email"].as_str(),
            ) else {
                return Err(ConsumeError::MissingData(
                    "user.email_changed without its addresses",
                ));
            };
            let Some(user) = mails::user(state, &event.user_id).await? else {
                return Ok(()); // deleted meanwhile: nothing to take back
            };
            let link = mails::link(
                state,
                Purpose::RevertEmail,
                &user,
                json!({ "previous_email": previous }),
                "revert-email",
            )
            .await?;
            let text = format!(
                "Hello,\n\nthe address of your User Platform account was changed from this one to {email}, and every session was signed out.\n\nIf it was not you, take your account back: this link moves the address back here, lets you choose a new password and signs everyone else out. It works for 7 days, once, whatever is done with the account meanwhile:\n{link}\n\nUser Platform\n"
            );
            mails::send(
                state,
                previous,
                "The address of your account was changed",
                text,
            )
            .await
        }
        USER_PASSWORD_CHANGED => {
            let Some(user) = mails::user(state, &event.user_id).await? else {
                return Ok(());
            };
            let text = "Hello,\n\nthe password of your User Platform account was just changed, and every other session was signed out. If it was not you, reset your password now.\n\nUser Platform\n".to_owned();
            mails::send(
                state,
                user.email.as_str(),
                "Your password was changed",
                text,
            )
            .await
        }
        USER_DELETED => {
            state
                .store
                .delete(settings_key(&event.user_id), None)
                .await?;
            // Possibly many items: done here, retried on failure, rather
            // than inside the user's DELETE request.
            state.tasks.delete_all(&event.user_id).await?;
            state.pdfs.delete_for_user(&event.user_id).await?;
            state.avatars.delete_all_for_user(&event.user_id).await?;
            state.shop.erase_orders(&event.user_id).await?;
            state.sessions.delete_all(&event.user_id).await?;
            state.audit.delete_for_user(&event.user_id).await?;
            if let Some(email) = event.data["email"].as_str() {
                state.login_limiter.forget(email, &event.user_id).await?;
            }
            shared::one_time::forget_user(&*state.store, &event.user_id).await?;
            Ok(())
        }
        other => {
            tracing::debug!(kind = other, "no work for this event type");
            Ok(())
        }
    }
}

/// Mails with one-time links.
mod mails {
    use serde_json::{Value, json};
    use shared::AppState;
    use shared::domain::User;
    use shared::events::UserEvent;
    use shared::one_time::{self, Purpose};
    use shared::ports::Mail;

    use super::ConsumeError;

    pub async fn user(state: &AppState, id: &str) -> Result<Option<User>, ConsumeError> {
        Ok(state.users.get(id).await?)
    }

    /// The active account of the address an event names (`data.email`):
    /// the events that know an address, not an account (a reset, a sign-in
    /// link, a sign-up of a taken address). An event without a valid
    /// address is malformed.
    pub async fn active_user_of(
        state: &AppState,
        event: &UserEvent,
    ) -> Result<Option<User>, ConsumeError> {
        let Some(email) = event.data["email"]
            .as_str()
            .and_then(|e| shared::domain::Email::parse(e).ok())
        else {
            return Err(ConsumeError::NoValidEmail(event.kind.clone()));
        };
        let user = state.users.find_by_email(&email).await?;
        Ok(user.filter(|u| u.active))
    }

    /// Issues a token (replacing the user's earlier ones of that purpose)
    /// and returns the front end's link carrying it. The token is only
    /// ever in the mail; the store keeps its hash. It rides in the link's
    /// fragment (`#token=`), which browsers never send to a server: it
    /// reaches no access log, proxy or `Referer` (the page reads it and
    /// posts it).
    pub async fn link(
        state: &AppState,
        purpose: Purpose,
        user: &User,
        data: Value,
        page: &str,
    ) -> Result<String, ConsumeError> {
        let (token, writes) = one_time::issue(purpose, user, data);
        state.store.transact(writes).await?;
        Ok(format!(
            "{}/{page}#token={token}",
            state.config.app_base_url
        ))
    }

    pub async fn verification_link(state: &AppState, user: &User) -> Result<String, ConsumeError> {
        let data = json!({ "email": user.email.as_str() });
        link(state, Purpose::VerifyEmail, user, data, "verify-email").await
    }

    pub async fn send(
        state: &AppState,
        to: &str,
        subject: &str,
        text: String,
    ) -> Result<(), ConsumeError> {
        let mail = Mail {
            to: to.into(),
            subject: subject.into(),
            text,
        };
        state.mailer.send(&mail).await?;
        Ok(())
    }
}
