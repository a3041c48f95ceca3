//! Sign-in links: how an owner locked out by strangers' failures gets in
//! from a new device by proving the mailbox.
//!
//! The 429 of a locked account offers one ([`offer`]): an event asks the
//! `user-events` consumer to mail the account's address a link, at most one
//! per lock window (a stranger hammering the lock neither floods the
//! mailbox nor replaces the owner's link before it expires). The link is a
//! `shared::one_time` token (random, stored hashed, 15 minutes, single use,
//! ended by any change that ends the account's sessions); [`sign_in`] uses
//! it up in the transaction that starts the session, and trusts the device.

use edge::ApiError;
use edge::error::FieldError;
use edge::http::{client_info, json_body};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use shared::AppState;
use shared::events::{LOGIN_LINK_REQUESTED, UserEvent};
use shared::one_time::{self, Purpose};
use shared::ports::StoreError;
use shared::ports::item_store::{Condition, Write};
use shared::repo::RepoError;

/// Asks for a sign-in link to `account`'s address, unless one went out in
/// this window. The same work whether or not the address has an account:
/// the consumer looks it up.
pub async fn offer(state: &AppState, account: &str) -> Result<(), ApiError> {
    // Not an address: no account can have it, and there is nowhere to mail.
    if shared::domain::Email::parse(account).is_err()
        || !state.login_limiter.sign_in_link(account).await?
    {
        return Ok(());
    }
    let event = UserEvent::new(LOGIN_LINK_REQUESTED, "", json!({ "email": account }));
    state
        .outbox
        .announce(event)?
        .commit_alone(&*state.store)
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct LinkBody {
    token: Option<String>,
}

/// `POST /auth/login/link {token}` → the token pair and a device token.
pub async fn sign_in(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: LinkBody = json_body(req)?;
    let Some(token) = body.token.filter(|t| !t.trim().is_empty()) else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "token",
            "is required",
        )]));
    };
    let invalid = || ApiError::BadRequest(one_time::INVALID.into());
    let Some(valid) = one_time::find(&*state.store, Purpose::SignIn, &token).await? else {
        return Err(invalid());
    };
    let client = client_info(req);
    // The account as read with the token: a reset or logout-all between the
    // read and the session's start fails the transaction, so no session
    // starts after a cut-off that should have ended the link.
    let mut writes = valid.consume();
    writes.push(Write::Check {
        key: shared::table_keys::user(&valid.user.id),
        condition: Condition::Equals("version".into(), json!(valid.user.version)),
    });
    let issued = match state
        .sessions
        .start_with(&valid.user.id, &client, "login.link", writes)
        .await
    {
        Ok(issued) => issued,
        // Used meanwhile by a parallel request.
        Err(RepoError::Store(StoreError::TransactionCanceled { failed })) if !failed.is_empty() => {
            return Err(invalid());
        }
        Err(e) => return Err(e.into()),
    };
    let device = match state
        .login_limiter
        .trust_device(valid.user.email.as_str())
        .await
    {
        Ok(device) => Some(device),
        Err(e) => {
            tracing::warn!(error = %e, "could not trust the device");
            None
        }
    };
    crate::grant(state, req, &valid.user, issued, device)
}
