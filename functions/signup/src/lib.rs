//! `POST /auth/signup` (and its alias `POST /auth/register`): creates an account.
//!
//! 201 with the public user; 409 when the email (in any letter case) or the
//! username is taken, enforced by conditional writes in one transaction;
//! 422 with every invalid field. The first user is an ordinary user: admins
//! come only from the `ADMIN_EMAILS` bootstrap setting.
//!
//! With `SIGNUP_CONCEALS_EXISTING=true` a free address and a taken one get
//! the same 202 ("check your mail"): the same checks, the same hash, the same
//! create transaction (which fails on the taken claim); for a taken address
//! nothing is created, and an event mails the owner instead (what happened,
//! how to sign in or reset, and for a never-verified account a link that
//! takes it over; at most `RESETS_PER_EMAIL_PER_HOUR` such mails an hour).
//! A taken username is told first (usernames are public), so it cannot be
//! used to probe whether the address is taken too.

use std::sync::Arc;

use edge::ApiError;
use edge::http::{allow, json, json_body, respond, route_key};
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::domain::{NewPassword, PublicUser, Role, SignupRequest, User};
use shared::events::{SIGNUP_EXISTING_ADDRESS, USER_CREATED, UserEvent};
use shared::repo::AuditRepo;
use shared::repo::users::CreateError;
use shared::{AppState, password};
use time::OffsetDateTime;

/// In a fresh process, the first strength estimate builds zxcvbn's
/// dictionaries (~12 ms), and the request's hash waited behind it. For that
/// request only, the hash starts before the checks, beside the estimate
/// (on two cores the two overlap; on a fraction of one they interleave, as
/// before), and is used only if the request passes them: the same password
/// (compared, not assumed), judged strong, within the address's limit.
/// Otherwise it is dropped unused. So at most one hash per process runs
/// uncounted by the signup limit; every later request hashes only after
/// the checks.
fn first_hash_early(body: &SignupRequest) -> Option<(String, password::PendingHash)> {
    let raw = body.password.as_deref()?;
    if NewPassword::estimator_ready() || !NewPassword::length_ok(raw) {
        return None;
    }
    Some((raw.to_owned(), password::start_hash(raw.to_owned())))
}

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    edge::idempotency::once(state, req, serve).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(signup(&state, &req).await)
}

async fn signup(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::POST])?;
    match route_key(req).as_str() {
        "POST /auth/signup" | "POST /auth/register" => {}
        _ => return Err(ApiError::NoRoute),
    }
    // A fresh process's working set is allocated while the request is
    // parsed and its password judged.
    password::prepare_working_set();
    let body = json_body::<SignupRequest>(req)?;
    let early_hash = first_hash_early(&body);
    let new_user = body.parse()?;
    let client = edge::http::client_info(req);
    // Counted before the (deliberately slow) hash: one address cannot
    // create accounts, or burn CPU, faster than the limit.
    state.abuse.signup(client.ip.as_deref()).await?;
    let password_hash = match early_hash {
        Some((raw, pending)) if raw == new_user.password.expose() => pending.finish().await?,
        _ => password::hash(new_user.password.into_inner()).await?,
    };
    let now = OffsetDateTime::now_utc();
    // Everyone starts as a user: `ADMIN_EMAILS` grants admin only when the
    // address is verified (see the `account-email` function).
    let role = Role::User;
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email: new_user.email,
        name: new_user.name,
        surname: new_user.surname,
        username: new_user.username,
        date_of_birth: new_user.date_of_birth,
        bio: None,
        avatar: None,
        role,
        active: true,
        email_verified: false,
        sessions_cutoff: None,
        password_hash,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let event = UserEvent::with_user(USER_CREATED, &user);
    let audit = AuditRepo::entry("user.signed_up", Some(&user.id), None, &client, json!({}))?;
    // The answer is made first, so that a retry's key replays what this
    // commit wrote.
    let answer = if *state.config.signup_conceals_existing {
        concealed()?
    } else {
        json(StatusCode::CREATED, &PublicUser::from(&user))?
    };
    match state
        .outbox
        .announce(event)?
        .and(audit)
        .and_all(edge::idempotency::answer_writes(req, &answer))
        .commit(|writes| state.users.create(&user, writes))
        .await?
    {
        Ok(()) => {}
        Err(CreateError::EmailTaken) if *state.config.signup_conceals_existing => {
            let notice = UserEvent::new(
                SIGNUP_EXISTING_ADDRESS,
                "",
                json!({ "email": user.email.as_str() }),
            );
            state
                .outbox
                .announce(notice)?
                .commit_alone(&*state.store)
                .await?;
            return concealed();
        }
        Err(CreateError::EmailTaken) => {
            return Err(ApiError::Conflict(
                "An account with this email already exists.".into(),
            ));
        }
        Err(CreateError::UsernameTaken) => {
            return Err(ApiError::Conflict("This username is taken.".into()));
        }
    }
    tracing::info!(user_id = %user.id, "user signed up");
    Ok(answer)
}

/// The one answer of a concealing sign-up, taken address or free.
pub const CONCEALED: &str =
    "Check your mail: a message to this address tells how to finish signing up.";

fn concealed() -> Result<Response<Body>, ApiError> {
    json(StatusCode::ACCEPTED, &json!({ "message": CONCEALED }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(password: &str) -> SignupRequest {
        serde_json::from_value(json!({"email": "a@example.com", "password": password})).unwrap()
    }

    /// The only test of this binary: the estimator starts cold.
    #[tokio::test]
    async fn only_a_cold_estimator_starts_the_hash_early() {
        assert!(
            first_hash_early(&body("short")).is_none(),
            "too short to be valid"
        );
        assert!(
            first_hash_early(&body(&"x".repeat(129))).is_none(),
            "too long to be valid"
        );
        let (raw, pending) = first_hash_early(&body(PASSWORD)).expect("a cold estimator: early");
        assert_eq!(raw, PASSWORD);
        let stored = pending.finish().await.unwrap();
        assert!(matches!(
            password::verify(PASSWORD.into(), Some(stored))
                .await
                .unwrap(),
            password::Verdict::Valid { .. }
        ));
        body(PASSWORD).parse().unwrap();
        assert!(
            first_hash_early(&body(PASSWORD)).is_none(),
            "a warm estimator: after the checks"
        );
    }

    const PASSWORD: &str = "vivid tundra lantern 47";
}
