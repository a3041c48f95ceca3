//! The user record and its public view.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Avatar, AvatarLinks, Bio, BirthDate, Email, PersonName, Username};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// The stored user. `password_hash` never leaves the server: handlers answer
/// with [`PublicUser`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: Email,
    pub name: Option<PersonName>,
    pub surname: Option<PersonName>,
    pub username: Option<Username>,
    pub date_of_birth: Option<BirthDate>,
    #[serde(default)]
    pub bio: Option<Bio>,
    /// The current avatar (its images are in the blob store).
    #[serde(default)]
    pub avatar: Option<Avatar>,
    pub role: Role,
    pub active: bool,
    pub password_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version; every write checks and bumps it.
    pub version: u64,
}

/// What clients see of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicUser {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub username: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<BirthDate>,
    pub bio: Option<String>,
    /// Links to the avatar, on the caller's own profile when there is one
    /// (see `shared::avatars::public_user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<AvatarLinks>,
    pub role: Role,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The optimistic-concurrency version (also the `ETag`).
    pub version: u64,
}

impl From<&User> for PublicUser {
    fn from(u: &User) -> Self {
        PublicUser {
            id: u.id.clone(),
            email: u.email.as_str().to_owned(),
            name: u.name.as_ref().map(|n| n.as_str().to_owned()),
            surname: u.surname.as_ref().map(|n| n.as_str().to_owned()),
            username: u.username.as_ref().map(|n| n.as_str().to_owned()),
            date_of_birth: u.date_of_birth,
            bio: u.bio.as_ref().map(|b| b.as_str().to_owned()),
            avatar: None,
            role: u.role,
            active: u.active,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }
}
