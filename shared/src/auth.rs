//! Checking an access token: the one code path behind the authorizer and
//! `POST /auth/validate-token`.

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::AccessClaims;

/// The one message every rejected token gets: which check failed is logged,
/// never told to the client.
pub const INVALID_TOKEN: &str = "The token is invalid or has expired.";

/// Verifies a bearer token's signature and claims.
pub async fn verify_access_token(state: &AppState, token: &str) -> Result<AccessClaims, ApiError> {
    state.tokens.verify(token).map_err(|e| {
        tracing::info!(reason = %e, "access token rejected");
        ApiError::Unauthorized(INVALID_TOKEN)
    })
}

/// Extracts the token from an `Authorization: Bearer <token>` value.
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
