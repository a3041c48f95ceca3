//! Checking an access token: the one code path behind the authorizer and
//! `POST /auth/validate-token`.

use crate::error::ApiError;
use shared::domain::User;
use shared::state::AppState;
use shared::tokens::AccessClaims;

/// The one message every rejected token gets: which check failed is logged,
/// never told to the client.
pub const INVALID_TOKEN: &str = "The token is invalid or has expired.";

/// A token that verified, with the user as stored now.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub claims: AccessClaims,
    pub user: User,
}

impl Authenticated {
    /// The caller this token speaks for, as the authorizer hands it to the
    /// protected handlers: the user's role and address now, not when the
    /// token was issued.
    pub fn caller(&self) -> crate::http::Caller {
        crate::http::Caller {
            user_id: self.claims.sub.clone(),
            email: self.user.email.as_str().to_owned(),
            role: self.user.role,
            session_id: self.claims.sid.clone(),
        }
    }
}

/// Verifies a bearer token's signature and claims, then that its session is
/// still live (not revoked, not before the user's session cut-off) and its
/// user still exists and is active: logout, logout-all, password change or
/// reset, deactivation and deletion take effect at once. The role
/// is the user's current one, so a demotion does too. Fails closed.
pub async fn verify_access_token(state: &AppState, token: &str) -> Result<Authenticated, ApiError> {
    // Signature and claims first: a forged or expired token costs no read
    // (overlapping the two was tried and gained nothing; BENCHMARKS.md).
    let claims = state.tokens.verify(token).map_err(|e| {
        tracing::info!(reason = %e, "access token rejected");
        ApiError::Unauthorized(INVALID_TOKEN)
    })?;
    let (user, session) = state
        .sessions
        .get_with_user(&claims.sub, &claims.sid)
        .await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match (user, session) {
        (Some(user), Some(session))
            if user.active
                && user.id == claims.sub
                && session.id == claims.sid
                && !session.revoked
                && now < session.absolute_expires_at
                && user.allows_session(&session.id, session.created_at) =>
        {
            Ok(Authenticated { claims, user })
        }
        _ => {
            tracing::info!(user_id = %claims.sub, "access token of an ended session or inactive user");
            Err(ApiError::Unauthorized(INVALID_TOKEN))
        }
    }
}

/// Extracts the token from an `Authorization: Bearer <token>` value, the
/// scheme matched case-insensitively (RFC 9110 §11.1). Not `headers`'
/// `Authorization<Bearer>`: the authorizer gets the header as a string in
/// its event's `identitySource`, not as a header, and that type takes an
/// empty token or `Bearer a, Bearer b` as a token (hyperium/headers#112,
/// open); an empty token here is no token, so the gateway answers 401.
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The account of the caller of a protected route (404 when it was deleted
/// after the authorizer let the request through).
pub async fn caller_account(
    state: &AppState,
    req: &lambda_http::Request,
) -> Result<User, ApiError> {
    let caller = crate::http::Caller::from_request(req)?;
    state
        .users
        .get(&caller.user_id)
        .await?
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(super::bearer("Bearer abc"), Some("abc"));
        assert_eq!(super::bearer("bearer  abc "), Some("abc"));
        assert_eq!(super::bearer("Basic abc"), None);
        assert_eq!(super::bearer("Bearer "), None);
        assert_eq!(super::bearer("abc"), None);
    }
}
