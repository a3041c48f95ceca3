//! The one error type of the API and its one mapping to HTTP.
//!
//! Every handler returns `Result<_, ApiError>`; [`ApiError::into_response`]
//! turns it into an RFC 9457 `application/problem+json` body. Internal
//! failures are logged with their cause and answered with a generic 500:
//! no internal error text ever reaches a client.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use shared::ports::StoreError;

pub use shared::domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Missing, malformed or rejected credentials; the text is the client-facing detail.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// The function was invoked for a route key its `match` does not serve:
    /// the gateway and the function disagree (never reached through the
    /// gateway; `local/tests/routes.rs` checks every route has an arm).
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The `Idempotency-Key`'s first request is still running.
    #[error("idempotency key in use")]
    KeyInUse { retry_after_secs: u64 },
    /// `If-Match` named a version that is no longer current.
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 415 with our own words on what to send instead.
    #[error("unsupported media type: {0}")]
    Unsupported(String),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 429 for a sign-in from an unknown device while strangers' failures
    /// lock the account: says how the owner gets in anyway.
    #[error("locked for unknown devices")]
    LockedOut { retry_after_secs: u64 },
    /// A dependency is down; the text is logged, not sent.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A dependency is down and we know when to try again.
    #[error("unavailable for {retry_after_secs} s: {cause}")]
    UnavailableFor {
        cause: String,
        retry_after_secs: u64,
    },
    /// An upstream service answered something unusable; logged, not sent.
    #[error("bad gateway: {0}")]
    BadGateway(String),
    /// A bug or an unexpected failure; the text is logged, not sent.
    #[error("internal: {0}")]
    Internal(String),
}

/// The `Retry-After` of a 503 when the outage gives no better estimate.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn field(field: &str, message: &str) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::KeyInUse { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType | ApiError::Unsupported(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::TooManyRequests { .. } | ApiError::LockedOut { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) | ApiError::UnavailableFor { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document a client sees: `type` is a stable slug, `detail`
    /// is safe to show (never an internal message).
    pub fn problem(&self) -> Problem {
        let (slug, title, detail): (&str, &str, String) = match self {
            ApiError::Validation(_) => (
                "validation-error",
                "Your request is not valid",
                "One or more fields are invalid; see `errors`.".into(),
            ),
            ApiError::BadRequest(d) => ("bad-request", "Bad request", d.clone()),
            ApiError::Unauthorized(d) => ("unauthorized", "Unauthorized", (*d).into()),
            ApiError::Forbidden => (
                "forbidden",
                "Forbidden",
                "You are not allowed to do this.".into(),
            ),
            ApiError::NotFound => ("not-found", "Not found", "No such resource.".into()),
            ApiError::NoRoute => ("no-route", "Not found", "No such route.".into()),
            ApiError::MethodNotAllowed => (
                "method-not-allowed",
                "Method not allowed",
                "This route does not accept that method.".into(),
            ),
            ApiError::Conflict(d) => ("conflict", "Conflict", d.clone()),
            ApiError::KeyInUse { retry_after_secs } => (
                "idempotency-key-in-use",
                "Request in progress",
                format!(
                    "A request with this Idempotency-Key is still running; retry in {retry_after_secs} seconds for its answer."
                ),
            ),
            ApiError::PreconditionFailed => (
                "precondition-failed",
                "Precondition failed",
                "The resource changed since you read it (If-Match); read it again.".into(),
            ),
            ApiError::PayloadTooLarge => (
                "payload-too-large",
                "Payload too large",
                "The request body is too large.".into(),
            ),
            ApiError::UnsupportedMediaType => (
                "unsupported-media-type",
                "Unsupported media type",
                "Send the body as application/json.".into(),
            ),
            ApiError::Unsupported(d) => (
                "unsupported-media-type",
                "Unsupported media type",
                d.clone(),
            ),
            ApiError::TooManyRequests { retry_after_secs } => (
                "too-many-requests",
                "Too many requests",
                format!("Try again in {retry_after_secs} seconds."),
            ),
            ApiError::LockedOut { retry_after_secs } => (
                "locked-for-new-devices",
                "Too many failed sign-ins from new devices",
                format!(
                    "This account is locked for devices it does not know, for {retry_after_secs} seconds. \
                     If it is yours, a sign-in link is on its way to its address: it signs you in once, \
                     within 15 minutes, and trusts this device from then on. Devices that signed in \
                     before are not locked."
                ),
            ),
            ApiError::Unavailable(_) | ApiError::UnavailableFor { .. } => (
                "unavailable",
                "Service unavailable",
                "A dependency is unavailable; try again shortly.".into(),
            ),
            ApiError::BadGateway(_) => (
                "bad-gateway",
                "Bad gateway",
                "An upstream service answered something we cannot use; try again later.".into(),
            ),
            ApiError::Internal(_) => (
                "internal",
                "Internal server error",
                "Something went wrong on our side.".into(),
            ),
        };
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.into(),
            status: self.status().as_u16(),
            detail,
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }

    /// The HTTP answer; logs server-side failures with their cause.
    pub fn into_response(self) -> Response<Body> {
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::Unavailable(cause) | ApiError::UnavailableFor { cause, .. } => {
                tracing::warn!(%cause, "dependency unavailable")
            }
            ApiError::BadGateway(cause) => tracing::warn!(%cause, "bad upstream answer"),
            _ => {}
        }
        let problem = self.problem();
        let body = serde_json::to_string(&problem).unwrap_or_default();
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::KeyInUse { retry_after_secs }
            | ApiError::LockedOut { retry_after_secs }
            | ApiError::UnavailableFor {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            // An outage without a better estimate: a short, honest retry hint.
            ApiError::Unavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

/// Collects field errors, so that one 422 names every bad field.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// The parsed value, or `None` with the error noted.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, &'static str>) -> Option<T> {
        parsed
            .map_err(|m| self.0.push(FieldError::new(field, m)))
            .ok()
    }
    /// A PATCH field that cannot be cleared: absent keeps `current`, a value
    /// is parsed into it (a bad one is noted and keeps `current`).
    pub fn patch<I, T>(
        &mut self,
        field: &str,
        change: Option<I>,
        current: &mut T,
        parse: impl FnOnce(I) -> Result<T, &'static str>,
    ) {
        if let Some(raw) = change
            && let Some(v) = self.check(field, parse(raw))
        {
            *current = v;
        }
    }
    /// A PATCH field that can be cleared: absent keeps `current`, `null`
    /// clears it, a value is parsed into it.
    pub fn patch_nullable<I, T>(
        &mut self,
        field: &str,
        change: Option<Option<I>>,
        current: &mut Option<T>,
        parse: impl FnOnce(I) -> Result<T, &'static str>,
    ) {
        match change {
            None => {}
            Some(None) => *current = None,
            Some(Some(raw)) => {
                if let Some(v) = self.check(field, parse(raw)) {
                    *current = Some(v);
                }
            }
        }
    }
    pub fn push(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }
    /// The parsed values when nothing was noted, else the 422 naming every
    /// bad field. `values` are what [`Fields::check`] handed back (a tuple of
    /// options, or `()`): with nothing noted they are all there, so the
    /// handler gets plain values and never unwraps.
    pub fn finish<V: Parsed>(self, values: V) -> Result<V::Values, ApiError> {
        if !self.0.is_empty() {
            return Err(ApiError::Validation(self.0));
        }
        values
            .all()
            .ok_or_else(|| ApiError::internal("a field was neither parsed nor reported"))
    }
}

/// What [`Fields::finish`] hands back: a tuple of `check` results, all of
/// them present.
pub trait Parsed {
    type Values;
    fn all(self) -> Option<Self::Values>;
}

impl Parsed for () {
    type Values = ();
    fn all(self) -> Option<()> {
        Some(())
    }
}

macro_rules! parsed_tuple {
    ($($name:ident),+) => {
        impl<$($name),+> Parsed for ($(Option<$name>,)+) {
            type Values = ($($name,)+);
            #[allow(non_snake_case)]
            fn all(self) -> Option<Self::Values> {
                let ($($name,)+) = self;
                Some(($($name?,)+))
            }
        }
    };
}
parsed_tuple!(A);
parsed_tuple!(A, B);
parsed_tuple!(A, B, C);
parsed_tuple!(A, B, C, D);
parsed_tuple!(A, B, C, D, E);

impl From<shared::password::PasswordError> for ApiError {
    /// No memory for argon2's working set is a capacity problem that passes
    /// (other hashes finish and free theirs): a 503, try again. Anything
    /// else from hashing is a bug or a corrupt stored hash: a 500.
    fn from(e: shared::password::PasswordError) -> Self {
        match e {
            shared::password::PasswordError::NoMemory(_) => ApiError::Unavailable(e.to_string()),
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<shared::rate_limit::LimitError> for ApiError {
    fn from(e: shared::rate_limit::LimitError) -> Self {
        match e {
            shared::rate_limit::LimitError::Limited {
                retry_after_secs, ..
            } => ApiError::TooManyRequests { retry_after_secs },
            shared::rate_limit::LimitError::Store(e) => e.into(),
        }
    }
}

impl From<shared::domain::signup::SignupRejected> for ApiError {
    fn from(e: shared::domain::signup::SignupRejected) -> Self {
        ApiError::Validation(e.0)
    }
}

impl From<shared::repo::RepoError> for ApiError {
    fn from(e: shared::repo::RepoError) -> Self {
        match e {
            shared::repo::RepoError::Store(e) => e.into(),
            shared::repo::RepoError::Corrupt(m) => ApiError::Internal(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => ApiError::BadRequest("The cursor is not valid.".into()),
            // No condition failed: a concurrent transaction kept winning
            // through the adapter's retries. Transient: try again.
            StoreError::TransactionCanceled { failed } if failed.is_empty() => {
                ApiError::Unavailable("transaction conflict after retries".into())
            }
            StoreError::ConditionFailed | StoreError::TransactionCanceled { .. } => {
                ApiError::Conflict("The record was changed by another request; retry.".into())
            }
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<shared::service_error::StorageError> for ApiError {
    fn from(e: shared::service_error::StorageError) -> Self {
        use shared::service_error::StorageError;
        match e {
            StorageError::Repo(e) => e.into(),
            StorageError::Blob(e) => e.into(),
            StorageError::Contended => {
                ApiError::Conflict("The record kept changing; try again.".into())
            }
            StorageError::Bug(m) => ApiError::Internal(m.into()),
        }
    }
}

impl From<shared::ports::BlobError> for ApiError {
    fn from(e: shared::ports::BlobError) -> Self {
        use shared::ports::BlobError;
        match e {
            BlobError::Unavailable(m) => ApiError::Unavailable(m),
            BlobError::InvalidKey => ApiError::Internal("invalid blob key".into()),
            BlobError::Internal(m) => ApiError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_memory_for_a_hash_is_a_503_other_hashing_failures_a_500() {
        use shared::password::PasswordError;
        let no_memory = PasswordError::NoMemory(std::io::ErrorKind::OutOfMemory.into());
        assert_eq!(
            ApiError::from(no_memory).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let corrupt = PasswordError::BadStoredHash("no salt".into());
        assert_eq!(
            ApiError::from(corrupt).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn fields_hand_back_the_parsed_values_or_every_error() {
        let mut f = Fields::default();
        let a = f.check("a", Ok::<_, &str>(1));
        let b = f.check("b", Ok::<_, &str>("two"));
        assert_eq!(f.finish((a, b)).unwrap(), (1, "two"));

        let mut f = Fields::default();
        let a = f.check("a", Err::<u8, _>("is bad"));
        let b = f.check("b", Ok::<_, &str>(2));
        let c = f.check("c", Err::<u8, _>("is worse"));
        let Err(ApiError::Validation(errors)) = f.finish((a, b, c)) else {
            panic!("a 422 expected");
        };
        let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["a", "c"], "every bad field, in order");

        // A value missing with nothing reported is a bug: a 500, never a panic.
        assert!(matches!(
            Fields::default().finish((None::<u8>,)),
            Err(ApiError::Internal(_))
        ));
        assert!(Fields::default().finish(()).is_ok());
    }

    #[test]
    fn internal_text_is_never_sent() {
        let r = ApiError::Internal("db password is hunter2".into()).into_response();
        assert_eq!(r.status(), 500);
        let Body::Text(body) = r.body() else {
            panic!("text body")
        };
        assert!(!body.contains("hunter2"));
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[test]
    fn validation_lists_fields() {
        let p = ApiError::field("email", "is not an email address").problem();
        assert_eq!(p.status, 422);
        assert_eq!(
            p.errors,
            vec![FieldError::new("email", "is not an email address")]
        );
    }

    #[test]
    fn rate_limit_sets_retry_after() {
        let r = ApiError::TooManyRequests {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
    }
}
