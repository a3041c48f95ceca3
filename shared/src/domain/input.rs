//! What the domain says about a request's input and its origin, with no
//! HTTP in it: the edge turns [`FieldError`]s into a 422 problem and fills
//! [`ClientInfo`] from the request; repositories record them.

use serde::Serialize;

/// One problem with one input field (used for 422 answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where the request came from, for audit and rate limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
