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
use shared::events::{EVENT_VERSION, USER_CREATED, USER_DELETED, UserEvent};
use shared::ports::Mail;
use shared::ports::item_store::{Change, Condition, Key, StoreError};

/// How long a claim protects an event being handled.
const CLAIM_SECS: i64 = 60;
/// How long processed-event records are kept (longer than any redelivery).
const KEEP_SECS: i64 = 14 * 86_400;

pub async fn handle(state: Arc<AppState>, event: SqsEvent) -> SqsBatchResponse {
    shared::consumer::process_batch(&event, |m| {
        let state = state.clone();
        let body = m.body.clone().unwrap_or_default();
        async move { handle_message(&state, &body).await }
    })
    .await
}

pub fn settings_key(user_id: &str) -> Key {
    Key::new(format!("USER#{user_id}"), "SETTINGS")
}

fn processed_key(event_id: &str) -> Key {
    Key::new(format!("EVENT#{event_id}"), "PROCESSED")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

enum Claim {
    Mine(i64),
    Done,
    Busy,
}

async fn claim(state: &AppState, event_id: &str) -> Result<Claim, String> {
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
        Err(e) => return Err(e.to_string()),
    }
    let Some(current) = state.store.get(&key).await.map_err(|e| e.to_string())? else {
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
        Err(e) => Err(e.to_string()),
    }
}

/// Handles one message body; an error reports the message as failed.
pub async fn handle_message(state: &AppState, body: &str) -> Result<(), String> {
    let event: UserEvent =
        serde_json::from_str(body).map_err(|e| format!("not a user event: {e}"))?;
    if event.version != EVENT_VERSION {
        return Err(format!("unsupported event version {}", event.version));
    }
    let lease = match claim(state, &event.event_id).await? {
        Claim::Mine(lease) => lease,
        Claim::Done => {
            tracing::info!(event_id = %event.event_id, "duplicate delivery ignored");
            return Ok(());
        }
        Claim::Busy => return Err("being handled elsewhere; retry later".into()),
    };
    let key = processed_key(&event.event_id);
    let mine = Some(Condition::Equals("lease".into(), json!(lease)));
    match apply(state, &event).await {
        Ok(()) => {
            state
                .store
                .update(key, vec![Change::Set("status".into(), json!("done"))], mine)
                .await
                .map_err(|e| e.to_string())?;
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

async fn apply(state: &AppState, event: &UserEvent) -> Result<(), String> {
    match event.kind.as_str() {
        USER_CREATED => {
            // Deleted before we got here: nothing to set up, nobody to greet.
            if state
                .users
                .get(&event.user_id)
                .await
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Ok(());
            }
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
                Err(e) => return Err(e.to_string()),
            }
            let email = event.data["user"]["email"]
                .as_str()
                .ok_or("user.created without an email")?;
            let name = event.data["user"]["name"].as_str().unwrap_or("there");
            let mail = Mail {
                to: email.into(),
                subject: "Welcome to User Platform".into(),
                text: format!(
                    "Hello {name},\n\nyour account is ready. Sign in any time.\n\nUser Platform\n"
                ),
            };
            state.mailer.send(&mail).await.map_err(|e| e.to_string())?;
            Ok(())
        }
        USER_DELETED => {
            state
                .store
                .delete(settings_key(&event.user_id), None)
                .await
                .map_err(|e| e.to_string())?;
            // Possibly many items: done here, retried on failure, rather
            // than inside the user's DELETE request.
            state
                .tasks
                .delete_all(&event.user_id)
                .await
                .map_err(|e| e.to_string())?;
            shared::profile_pdf::delete_for_user(state, &event.user_id)
                .await
                .map_err(|e| e.to_string())?;
            shared::avatars::delete_all_for_user(state, &event.user_id)
                .await
                .map_err(|e| e.to_string())?;
            state
                .shop
                .erase_orders(&event.user_id)
                .await
                .map_err(|e| e.to_string())?;
            state
                .sessions
                .delete_all(&event.user_id)
                .await
                .map_err(|e| e.to_string())?;
            state
                .audit
                .delete_for_user(&event.user_id)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(email) = event.data["email"].as_str() {
                state
                    .login_limiter
                    .forget(email)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        other => {
            tracing::debug!(kind = other, "no work for this event type");
            Ok(())
        }
    }
}
