//! `POST /auth/signup` (and its alias `POST /auth/register`): creates an account.
//!
//! 201 with the public user; 409 when the email (in any letter case) or the
//! username is taken, enforced by conditional writes in one transaction;
//! 422 with every invalid field. The first user is an ordinary user: admins
//! come only from the `ADMIN_EMAILS` bootstrap setting.

use std::sync::Arc;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::domain::{PublicUser, Role, SignupRequest, User};
use shared::events::{USER_CREATED, UserEvent};
use shared::http::{allow, json, json_body, respond};
use shared::repo::AuditRepo;
use shared::repo::users::CreateError;
use shared::{ApiError, AppState, outbox, password};
use time::OffsetDateTime;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(signup(&state, &req).await)
}

async fn signup(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::POST])?;
    // A fresh process's working set is allocated while the request is
    // parsed and its password judged.
    password::prepare_working_set();
    let new_user = json_body::<SignupRequest>(req)?.parse()?;
    let client = shared::http::ClientInfo::from_request(req);
    // Counted before the (deliberately slow) hash: one address cannot
    // create accounts, or burn CPU, faster than the limit.
    state.abuse.signup(client.ip.as_deref()).await?;
    let password_hash = password::hash(new_user.password.into_inner()).await?;
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
    match state
        .users
        .create(&user, vec![outbox::record(&event)?, audit])
        .await?
    {
        Ok(()) => {}
        Err(CreateError::EmailTaken) => {
            return Err(ApiError::Conflict(
                "An account with this email already exists.".into(),
            ));
        }
        Err(CreateError::UsernameTaken) => {
            return Err(ApiError::Conflict("This username is taken.".into()));
        }
    }
    outbox::dispatch_after_commit(&state.outbox, &[event]).await;
    tracing::info!(user_id = %user.id, "user signed up");
    json(StatusCode::CREATED, &PublicUser::from(&user))
}
