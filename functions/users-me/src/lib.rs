//! The caller's own profile (all protected):
//! - `GET /users/me` (with an `ETag`);
//! - `PATCH /users/me`: `name`, `surname`, `username`, `date_of_birth`,
//!   `bio`; a field left out is unchanged, `null` clears it. Optimistic
//!   concurrency: `If-Match` with a stale `ETag` is 412, a `version` in the
//!   body that is stale is 409, and so is a concurrent write;
//! - `DELETE /users/me` with `{password}`: removes the account and
//!   everything kept about it;
//! - `GET /users/me/export`: all of the caller's data as JSON.
//!
//! The calls of the systems we replace, kept so their clients work unchanged:
//! - `GET /profile/me`: `GET /users/me`;
//! - `PUT /users/me`: replaces the editable fields (one left out is cleared);
//! - `POST /users/createprofile`: sets the fields given, as `PATCH` does;
//! - `DELETE /users/deleteprofile`: clears every editable field (the account
//!   stays) and answers the profile.

use std::sync::Arc;

use edge::ApiError;
use edge::error::Fields;
use edge::http::{
    check_if_match, client_info, json, json_body, no_content, respond, route_key, with_etag,
};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use shared::AppState;
use shared::domain::{Bio, BirthDate, PersonName, User, Username};
use shared::events::{USER_UPDATED, UserEvent};
use shared::password::{self, Verdict};
use shared::repo::users::UpdateError;
use shared::repo::{AuditRepo, all_pages};

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = edge::auth::caller_account(state, req).await?;
    match route_key(req).as_str() {
        "GET /users/me" | "GET /profile/me" => Ok(with_etag(
            json(StatusCode::OK, &state.avatars.public_user(&user).await?)?,
            user.version,
        )),
        "PATCH /users/me" | "POST /users/createprofile" => {
            edit(state, req, &user, json_body(req)?).await
        }
        "PUT /users/me" => {
            edit(
                state,
                req,
                &user,
                json_body::<ProfilePatch>(req)?.replacing(),
            )
            .await
        }
        "DELETE /users/deleteprofile" => edit(state, req, &user, ProfilePatch::clearing()).await,
        "DELETE /users/me" => delete(state, req, &user).await,
        "GET /users/me/export" => export(state, &user).await,
        _ => Err(ApiError::NoRoute),
    }
}

#[derive(Deserialize)]
struct ProfilePatch {
    #[serde(default, with = "::serde_with::rust::double_option")]
    name: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    surname: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    username: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    date_of_birth: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    bio: Option<Option<String>>,
    /// The version the client edited (optional; `If-Match` works too).
    version: Option<u64>,
}

impl ProfilePatch {
    /// A whole profile: every field left out becomes `null` (`PUT`).
    fn replacing(self) -> Self {
        let whole = |f: Option<Option<String>>| Some(f.flatten());
        Self {
            name: whole(self.name),
            surname: whole(self.surname),
            username: whole(self.username),
            date_of_birth: whole(self.date_of_birth),
            bio: whole(self.bio),
            version: self.version,
        }
    }

    /// Every editable field cleared.
    fn clearing() -> Self {
        Self {
            name: Some(None),
            surname: Some(None),
            username: Some(None),
            date_of_birth: Some(None),
            bio: Some(None),
            version: None,
        }
    }
}

async fn edit(
    state: &AppState,
    req: &Request,
    user: &User,
    body: ProfilePatch,
) -> Result<Response<Body>, ApiError> {
    check_if_match(req, user.version)?;
    if body.version.is_some_and(|v| v != user.version) {
        return Err(ApiError::Conflict(
            "The profile changed since you read it; read it again.".into(),
        ));
    }
    let mut next = user.clone();
    let today = time::OffsetDateTime::now_utc().date();
    let mut f = Fields::default();
    f.patch_nullable("name", body.name, &mut next.name, |n| PersonName::parse(&n));
    f.patch_nullable("surname", body.surname, &mut next.surname, |n| {
        PersonName::parse(&n)
    });
    f.patch_nullable("username", body.username, &mut next.username, |n| {
        Username::parse(&n)
    });
    f.patch_nullable(
        "date_of_birth",
        body.date_of_birth,
        &mut next.date_of_birth,
        |d| BirthDate::parse(&d, today),
    );
    f.patch_nullable("bio", body.bio, &mut next.bio, |b| Bio::parse(&b));
    f.finish(())?;
    let mut announced = next.clone();
    announced.version = user.version + 1;
    let event = UserEvent::with_user(USER_UPDATED, &announced);
    let client = client_info(req);
    let audit = AuditRepo::entry(
        "user.updated",
        Some(&user.id),
        None,
        &client,
        json!({ "version": user.version + 1 }),
    )?;
    let saved = match state
        .outbox
        .announce(event)?
        .and(audit)
        .commit(|writes| state.users.update(user, &next, writes))
        .await?
    {
        Ok(saved) => saved,
        Err(UpdateError::UsernameTaken) => {
            return Err(ApiError::Conflict("This username is taken.".into()));
        }
        Err(UpdateError::Stale) => {
            return Err(ApiError::Conflict(
                "The profile changed since you read it; read it again.".into(),
            ));
        }
    };
    Ok(with_etag(
        json(StatusCode::OK, &state.avatars.public_user(&saved).await?)?,
        saved.version,
    ))
}

#[derive(Deserialize)]
struct DeleteRequest {
    password: Option<String>,
}

async fn delete(state: &AppState, req: &Request, user: &User) -> Result<Response<Body>, ApiError> {
    let body: DeleteRequest = json_body(req)?;
    let password = body
        .password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::field("password", "is required"))?;
    let client = client_info(req);
    state.login_limiter.reauth_attempt(&user.id).await?;
    if password::verify(password, Some(user.password_hash.clone())).await? == Verdict::Invalid {
        return Err(ApiError::field("password", "is incorrect"));
    }
    if !shared::accounts::delete_account(
        &state.users,
        &state.outbox,
        user,
        &user.id,
        &client,
        Vec::new(),
    )
    .await?
    {
        return Err(ApiError::Conflict(
            "The account changed meanwhile; try again.".into(),
        ));
    }
    Ok(no_content())
}

async fn export(state: &AppState, user: &User) -> Result<Response<Body>, ApiError> {
    let sessions = state.sessions.list(&user.id).await?;
    let settings = state
        .store
        .get(&shared::table_keys::event_settings(&user.id))
        .await?
        .map(|mut s| {
            for k in ["pk", "sk"] {
                s.remove(k);
            }
            s
        });
    let mut audit = all_pages(|cursor| state.audit.list(Some(&user.id), 100, cursor)).await?;
    // Entries of others' actions on this user (an admin's) keep who and
    // what, but not where from: the admin's address and browser are theirs.
    for entry in &mut audit {
        if entry.actor_id.as_deref().is_some_and(|a| a != user.id) {
            entry.ip = None;
            entry.user_agent = None;
        }
    }
    let tasks = all_pages(|cursor| state.tasks.list(&user.id, None, 100, cursor)).await?;
    let orders = all_pages(|cursor| state.shop.orders(&user.id, 100, cursor)).await?;
    let sessions: Vec<_> = sessions
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id, "created_at": s.created_at.unix_timestamp(), "last_used_at": s.last_used_at.unix_timestamp(),
                "ip": s.ip, "user_agent": s.user_agent, "revoked": s.revoked,
            })
        })
        .collect();
    let mut response = json(
        StatusCode::OK,
        &json!({
            "exported_at": time::OffsetDateTime::now_utc().unix_timestamp(),
            "user": state.avatars.public_user(user).await?,
            "sessions": sessions,
            "settings": settings,
            "audit": audit,
            "tasks": tasks,
            "orders": orders,
        }),
    )?;
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"my-data.json\""),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
