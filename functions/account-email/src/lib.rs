//! Proving and changing an email address, and getting back into an account
//! (OWASP's Forgot Password Cheat Sheet):
//! - `POST /auth/verify-email {token, password | new_password}` → 204: the
//!   address is verified. The link proves the mailbox, not who set the
//!   password (someone else may have signed up with this address first:
//!   a "pre-hijacked" account), so the request also proves the account's
//!   password or sets a new one. Either way every session and every other
//!   pending link ends, and an address listed in `ADMIN_EMAILS` becomes admin
//!   only now, held by someone who proved both;
//! - `POST /auth/verify-email/resend` (bearer) → 202: a new link (the old
//!   ones stop working);
//! - `POST /auth/password-reset {email}` → 202, the same answer and the
//!   same work whether or not an account has the address: the request only
//!   queues an event; the `user-events` consumer looks the address up and
//!   mails the link;
//! - `POST /auth/password-reset/confirm {token, new_password}` → 204: the new
//!   password (signup's rules), every session and every other pending link
//!   over, the address counted as verified (the link proved it; an
//!   `ADMIN_EMAILS` address becomes admin), the login lock cleared, a notice
//!   mailed, audited;
//! - `POST /users/me/email {new_email, password}` (bearer) → 202: a link to
//!   the new address and a notice to the old one; nothing changes yet;
//! - `POST /auth/email-change/confirm {token, password}` → 204: the address
//!   moves, with its uniqueness claim, in one transaction (409 if it was
//!   taken meanwhile); every session and pending link ends. The password
//!   keeps a stranger who merely owns the new mailbox from adopting someone
//!   else's account by clicking (a "trojan identifier"). The previous
//!   address is then mailed what happened and a link that undoes it;
//! - `POST /auth/email-change/revert {token, new_password}` → 204: within 7
//!   days, the previous address takes the account back: the address moves
//!   back (409 if someone took it meanwhile), the new password replaces
//!   whatever was set, every session and pending link ends. Nothing done
//!   through the new address (a password reset, another change) disarms the
//!   link.
//!
//! Tokens are `shared::one_time`'s: random, stored hashed, single use,
//! expiring, a newer one replacing older ones, and all ended by any change
//! that ends the account's sessions. Every token that cannot be used gets the
//! same 400, checked before any password: the routes are no password oracle.

use std::sync::Arc;

use edge::ApiError;
use edge::auth::caller_account;
use edge::error::FieldError;
use edge::http::{client_info, json as json_response, json_body, no_content, respond, route_key};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use shared::AppState;
use shared::domain::{Email, NewPassword, Role, SessionCutoff};
use shared::events::{
    PASSWORD_RESET_REQUESTED, USER_EMAIL_CHANGE_REQUESTED, USER_EMAIL_CHANGED, USER_EMAIL_REVERTED,
    USER_EMAIL_VERIFIED, USER_PASSWORD_CHANGED, USER_VERIFICATION_REQUESTED, UserEvent,
};
use shared::one_time::{self, Purpose};
use shared::password::{self, Verdict};
use shared::ports::{StoreError, Write};
use shared::repo::AuditRepo;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    match route_key(req).as_str() {
        "POST /auth/verify-email" => verify(state, req).await,
        "POST /auth/verify-email/resend" => resend(state, req).await,
        "POST /auth/password-reset" => reset_request(state, req).await,
        "POST /auth/password-reset/confirm" => reset_confirm(state, req).await,
        "POST /users/me/email" => change_request(state, req).await,
        "POST /auth/email-change/confirm" => change_confirm(state, req).await,
        "POST /auth/email-change/revert" => change_revert(state, req).await,
        _ => Err(ApiError::NoRoute),
    }
}

fn invalid() -> ApiError {
    ApiError::BadRequest(one_time::INVALID.into())
}

/// 202 with a message (the work continues in the consumer).
fn accepted(message: &str) -> Result<Response<Body>, ApiError> {
    json_response(StatusCode::ACCEPTED, &json!({ "message": message }))
}

/// Runs a token's transaction with the event it announces and its audit
/// entry: `writes[0]` saves the user; the token's writes come next, then
/// the event's record and the audit entry, and the event is dispatched once
/// it has all committed. A failed save is a concurrent change (409); a
/// failed token write means it was used meanwhile (the invalid-token 400);
/// `taken` names the index of a uniqueness claim (409 "taken").
async fn commit(
    state: &AppState,
    mut writes: Vec<Write>,
    event: UserEvent,
    audit: Write,
    taken: Option<usize>,
) -> Result<(), ApiError> {
    let transact = |announced: Vec<Write>| async move {
        writes.extend(announced);
        match state.store.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCanceled { failed }) if !failed.is_empty() => {
                if taken.is_some_and(|i| failed.contains(&i)) {
                    Err(ApiError::Conflict(
                        "Another account uses this address now.".into(),
                    ))
                } else if failed.iter().any(|&i| i != 0) {
                    // The token went meanwhile (a parallel use of the same
                    // link also moved the account's version): the link's answer.
                    Err(invalid())
                } else {
                    Err(ApiError::Conflict(
                        "The account changed meanwhile; try again.".into(),
                    ))
                }
            }
            Err(e) => Err(e.into()),
        }
    };
    state
        .outbox
        .announce(event)?
        .and(audit)
        .commit(transact)
        .await
}

#[derive(Deserialize)]
struct VerifyBody {
    token: Option<String>,
    password: Option<String>,
    new_password: Option<String>,
}

/// How a verifier proves the password half: the account's current password,
/// or a new one that replaces whatever was set before the address was proven.
enum PasswordProof {
    Current(String),
    New(String),
}

fn password_proof(
    password: Option<String>,
    new_password: Option<String>,
    errors: &mut Vec<FieldError>,
) -> Option<PasswordProof> {
    match (password.filter(|p| !p.is_empty()), new_password) {
        (Some(p), None) => Some(PasswordProof::Current(p)),
        (None, Some(p)) => Some(PasswordProof::New(p)),
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "new_password",
                "give either the account's password or a new one, not both",
            ));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(
                "password",
                "is required: the account's password, or choose a new one as new_password",
            ));
            None
        }
    }
}

/// Checks the account's current password (under the re-authentication
/// limit) or hashes a new one: the hash the account keeps.
async fn prove_password(
    state: &AppState,
    user: &shared::domain::User,
    proof: PasswordProof,
) -> Result<(String, bool), ApiError> {
    match proof {
        PasswordProof::Current(password) => {
            state.login_limiter.reauth_attempt(&user.id).await?;
            match password::verify(password, Some(user.password_hash.clone())).await? {
                Verdict::Invalid => Err(ApiError::field("password", "is incorrect")),
                _ => Ok((user.password_hash.clone(), false)),
            }
        }
        PasswordProof::New(raw) => {
            let new_password = NewPassword::parse(&raw, &user.guessable_words())
                .map_err(|m| ApiError::field("new_password", &m))?;
            Ok((password::hash(new_password.into_inner()).await?, true))
        }
    }
}

async fn verify(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: VerifyBody = json_body(req)?;
    let mut errors = Vec::new();
    if body.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
        errors.push(FieldError::new("token", "is required"));
    }
    let proof = password_proof(body.password, body.new_password, &mut errors);
    let (Some(token), Some(proof), true) = (body.token, proof, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let Some(valid) = one_time::find(&*state.store, Purpose::VerifyEmail, &token).await? else {
        return Err(invalid());
    };
    let user = &valid.user;
    // A link for an address the account no longer has proves nothing.
    if valid.data["email"].as_str() != Some(user.email.as_str()) {
        return Err(invalid());
    }
    let (password_hash, new_password) = prove_password(state, user, proof).await?;
    let mut verified = user.clone();
    verified.email_verified = true;
    verified.password_hash = password_hash;
    // Whoever held a session before the mailbox was proven is out, and so
    // is every other pending link.
    verified.sessions_cutoff = Some(SessionCutoff::now(None));
    let admin = state.config.is_admin_email(user.email.as_str()) && user.role != Role::Admin;
    if admin {
        verified.role = Role::Admin;
    }
    let client = client_info(req);
    let (save, next) = state.users.next_version(&verified)?;
    let event = UserEvent::with_user(USER_EMAIL_VERIFIED, &next);
    let mut writes = vec![save];
    writes.extend(valid.consume());
    let audit = AuditRepo::entry(
        "email.verified",
        Some(&user.id),
        None,
        &client,
        json!({ "admin_granted": admin, "password_set": new_password }),
    )?;
    commit(state, writes, event, audit, None).await?;
    if new_password {
        clear_login_lock(state, user.email.as_str()).await;
    }
    Ok(no_content())
}

/// The owner proved control of the address: the login lock goes, with
/// every device trusted before. (After the commit; if this fails the lock
/// still lapses with its window.)
async fn clear_login_lock(state: &AppState, email: &str) {
    if let Err(e) = state.login_limiter.clear_account(email).await {
        tracing::warn!(error = %e, "could not clear the login counters");
    }
}

async fn resend(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller_account(state, req).await?;
    if user.email_verified {
        return Err(ApiError::Conflict(
            "The address is already verified.".into(),
        ));
    }
    state.abuse.user_mail(&user.id).await?;
    let event = UserEvent::new(USER_VERIFICATION_REQUESTED, &user.id, json!({}));
    state
        .outbox
        .announce(event)?
        .commit_alone(&*state.store)
        .await?;
    accepted("A new link is on its way; earlier links no longer work.")
}

#[derive(Deserialize)]
struct ResetRequest {
    email: Option<String>,
    /// A device token from an earlier sign-in: the owner's own allowance.
    device_token: Option<String>,
}

/// The one answer to a reset request.
pub const RESET_ACCEPTED: &str =
    "If an account uses this address, a link to reset its password is on its way.";

async fn reset_request(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: ResetRequest = json_body(req)?;
    let raw = body
        .email
        .ok_or_else(|| ApiError::field("email", "is required"))?;
    let email = Email::parse(&raw).map_err(|m| ApiError::field("email", m))?;
    let client = client_info(req);
    // The hosted pages keep the device token in a cookie (cookie mode).
    let device_token = body
        .device_token
        .or_else(|| edge::sign_in::cookie_value(req, edge::sign_in::DEVICE_COOKIE));
    let device = device_token.as_deref();
    let trusted = state
        .login_limiter
        .trusts(email.as_str(), device)
        .await?
        .then_some(device)
        .flatten();
    // Past the address's allowance nothing more is mailed, and the links
    // already sent stay valid: a stranger cannot stop the owner's recovery.
    if !state
        .abuse
        .password_reset(email.as_str(), client.ip.as_deref(), trusted)
        .await?
    {
        return accepted(RESET_ACCEPTED);
    }
    // No lookup here: the consumer finds the account (or not). Both cases
    // do exactly this work, so neither answer nor time tells them apart.
    let event = UserEvent::new(
        PASSWORD_RESET_REQUESTED,
        "",
        json!({ "email": email.as_str() }),
    );
    state
        .outbox
        .announce(event)?
        .commit_alone(&*state.store)
        .await?;
    accepted(RESET_ACCEPTED)
}

#[derive(Deserialize)]
struct ResetConfirm {
    token: Option<String>,
    new_password: Option<String>,
}

async fn reset_confirm(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: ResetConfirm = json_body(req)?;
    let mut errors = Vec::new();
    if body.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
        errors.push(FieldError::new("token", "is required"));
    }
    if body.new_password.is_none() {
        errors.push(FieldError::new("new_password", "is required"));
    }
    let (Some(token), Some(raw_password)) = (body.token, body.new_password) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let Some(valid) = one_time::find(&*state.store, Purpose::ResetPassword, &token).await? else {
        return Err(invalid());
    };
    let user = &valid.user;
    let (password_hash, _) = prove_password(state, user, PasswordProof::New(raw_password)).await?;
    let mut reset = user.clone();
    reset.password_hash = password_hash;
    // Whoever knew the old password is out: every session ends, and with
    // it every other pending link (an email change asked for with the old
    // password, say).
    reset.sessions_cutoff = Some(SessionCutoff::now(None));
    // The link proved the mailbox and its follower set the password: both
    // halves, so the address counts as verified (and a listed one as admin).
    reset.email_verified = true;
    let admin = state.config.is_admin_email(user.email.as_str()) && user.role != Role::Admin;
    if admin {
        reset.role = Role::Admin;
    }
    let client = client_info(req);
    let (save, _) = state.users.next_version(&reset)?;
    let event = UserEvent::new(USER_PASSWORD_CHANGED, &user.id, json!({ "reset": true }));
    let mut writes = vec![save];
    writes.extend(valid.consume());
    let audit = AuditRepo::entry(
        "password.reset",
        Some(&user.id),
        None,
        &client,
        json!({ "admin_granted": admin }),
    )?;
    commit(state, writes, event, audit, None).await?;
    clear_login_lock(state, user.email.as_str()).await;
    Ok(no_content())
}

#[derive(Deserialize)]
struct ChangeRequest {
    new_email: Option<String>,
    password: Option<String>,
}

async fn change_request(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = caller_account(state, req).await?;
    let body: ChangeRequest = json_body(req)?;
    let mut errors = Vec::new();
    let new_email = match body.new_email.as_deref().map(Email::parse) {
        None => {
            errors.push(FieldError::new("new_email", "is required"));
            None
        }
        Some(Err(m)) => {
            errors.push(FieldError::new("new_email", m));
            None
        }
        Some(Ok(e)) if e == user.email => {
            errors.push(FieldError::new("new_email", "is already your address"));
            None
        }
        Some(Ok(e)) => Some(e),
    };
    let password = body.password.filter(|p| !p.is_empty());
    if password.is_none() {
        errors.push(FieldError::new("password", "is required"));
    }
    let (Some(new_email), Some(password)) = (new_email, password) else {
        return Err(ApiError::Validation(errors));
    };
    state.login_limiter.reauth_attempt(&user.id).await?;
    if password::verify(password, Some(user.password_hash.clone())).await? == Verdict::Invalid {
        return Err(ApiError::field("password", "is incorrect"));
    }
    state.abuse.user_mail(&user.id).await?;
    let client = client_info(req);
    // Whether the address is taken is not told here (that would let anyone
    // signed in probe addresses); the confirmation answers 409 if it is.
    let event = UserEvent::new(
        USER_EMAIL_CHANGE_REQUESTED,
        &user.id,
        json!({
            "new_email": new_email.as_str(),
            "from": user.email.as_str(),
            // The link is issued later, by the consumer: it must die with
            // anything that ends the sessions meanwhile (a reset, say).
            "stamp": user.token_stamp(),
        }),
    );
    let audit = AuditRepo::entry(
        "email.change_requested",
        Some(&user.id),
        None,
        &client,
        json!({}),
    )?;
    state
        .outbox
        .announce(event)?
        .and(audit)
        .commit_alone(&*state.store)
        .await?;
    accepted(
        "A confirmation link is on its way to the new address; until it is used, the current address stays.",
    )
}

#[derive(Deserialize)]
struct ChangeConfirm {
    token: Option<String>,
    password: Option<String>,
}

async fn change_confirm(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: ChangeConfirm = json_body(req)?;
    let mut errors = Vec::new();
    if body.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
        errors.push(FieldError::new("token", "is required"));
    }
    let password = body.password.filter(|p| !p.is_empty());
    if password.is_none() {
        errors.push(FieldError::new(
            "password",
            "is required: the account's password",
        ));
    }
    let (Some(token), Some(password), true) = (body.token, password, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let Some(valid) = one_time::find(&*state.store, Purpose::ChangeEmail, &token).await? else {
        return Err(invalid());
    };
    let user = &valid.user;
    let (Some(to), Some(from)) = (
        valid.data["new_email"].as_str(),
        valid.data["from"].as_str(),
    ) else {
        return Err(invalid());
    };
    let Ok(to) = Email::parse(to) else {
        return Err(invalid());
    };
    // The account moved on since the link was sent.
    if from != user.email.as_str() {
        return Err(invalid());
    }
    prove_password(state, user, PasswordProof::Current(password)).await?;
    let mut moved = user.clone();
    // Following the link proves the new address; the password, the account.
    moved.email_verified = true;
    moved.sessions_cutoff = Some(SessionCutoff::now(None));
    let admin = state.config.is_admin_email(to.as_str()) && user.role != Role::Admin;
    if admin {
        moved.role = Role::Admin;
    }
    let (mut writes, next) = state.users.move_email(&moved, &to)?;
    let taken = writes.len() - 1;
    writes.extend(valid.consume());
    let event = UserEvent::new(
        USER_EMAIL_CHANGED,
        &user.id,
        json!({ "email": next.email.as_str(), "previous_email": user.email.as_str() }),
    );
    let audit = AuditRepo::entry(
        "email.changed",
        Some(&user.id),
        None,
        &client_info(req),
        json!({ "admin_granted": admin }),
    )?;
    commit(state, writes, event, audit, Some(taken)).await?;
    // Devices trusted under the address it left trust nothing now.
    clear_login_lock(state, user.email.as_str()).await;
    Ok(no_content())
}

#[derive(Deserialize)]
struct RevertBody {
    token: Option<String>,
    new_password: Option<String>,
}

async fn change_revert(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: RevertBody = json_body(req)?;
    let mut errors = Vec::new();
    if body.token.as_deref().is_none_or(|t| t.trim().is_empty()) {
        errors.push(FieldError::new("token", "is required"));
    }
    if body.new_password.is_none() {
        errors.push(FieldError::new("new_password", "is required"));
    }
    let (Some(token), Some(raw_password), true) =
        (body.token, body.new_password, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let Some(valid) = one_time::find(&*state.store, Purpose::RevertEmail, &token).await? else {
        return Err(invalid());
    };
    let user = &valid.user;
    let Some(previous) = valid.data["previous_email"]
        .as_str()
        .and_then(|e| Email::parse(e).ok())
    else {
        return Err(invalid());
    };
    let (password_hash, _) = prove_password(state, user, PasswordProof::New(raw_password)).await?;
    let mut back = user.clone();
    back.password_hash = password_hash;
    back.email_verified = true;
    // Whoever holds the account now is out, with every link they asked for.
    back.sessions_cutoff = Some(SessionCutoff::now(None));
    let admin = state.config.is_admin_email(previous.as_str()) && user.role != Role::Admin;
    if admin {
        back.role = Role::Admin;
    }
    let (mut writes, taken) = if user.email == previous {
        // Moved back already (by the holder): only the password and sessions.
        let (save, _) = state.users.next_version(&back)?;
        (vec![save], None)
    } else {
        let (writes, _) = state.users.move_email(&back, &previous)?;
        let taken = writes.len() - 1;
        (writes, Some(taken))
    };
    writes.extend(valid.consume());
    writes.extend(one_time::end_newer_reverts(&*state.store, &valid).await?);
    let event = UserEvent::new(
        USER_EMAIL_REVERTED,
        &user.id,
        json!({ "email": previous.as_str(), "from": user.email.as_str() }),
    );
    let audit = AuditRepo::entry(
        "email.reverted",
        Some(&user.id),
        None,
        &client_info(req),
        json!({ "admin_granted": admin }),
    )?;
    commit(state, writes, event, audit, taken).await?;
    clear_login_lock(state, previous.as_str()).await;
    clear_login_lock(state, user.email.as_str()).await;
    Ok(no_content())
}
