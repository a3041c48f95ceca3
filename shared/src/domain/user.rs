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
    /// The owner proved they read mail at `email` (a verification link).
    #[serde(default)]
    pub email_verified: bool,
    /// Sessions started before this cut-off are over (logout-all, password
    /// change or reset, deactivation): one write ends them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_cutoff: Option<SessionCutoff>,
    pub password_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version; every write checks and bumps it.
    pub version: u64,
}

/// "Sessions started before `at_ms` are over, except `keep`" (the caller's
/// own, on a password change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCutoff {
    /// Epoch milliseconds.
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<String>,
}

impl SessionCutoff {
    /// Every session started until now ends, but `keep`.
    pub fn now(keep: Option<&str>) -> Self {
        SessionCutoff {
            at_ms: (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            keep: keep.map(str::to_owned),
        }
    }
}

impl User {
    /// Words a new password must not be built from: the account's own
    /// (zxcvbn's user inputs).
    pub fn guessable_words(&self) -> Vec<&str> {
        let mut words = vec![self.email.as_str(), self.email.local_part()];
        words.extend(
            self.name
                .iter()
                .chain(self.surname.iter())
                .map(|n| n.as_str()),
        );
        words.extend(self.username.iter().map(|u| u.as_str()));
        words
    }

    /// What one-time tokens record when issued and must still match when
    /// used (`shared::one_time`): the session cut-off, so every change that
    /// ends the sessions also ends every pending link.
    pub fn token_stamp(&self) -> i64 {
        self.sessions_cutoff.as_ref().map_or(0, |c| c.at_ms)
    }

    /// Whether a session of this user started at `started` is still
    /// allowed by the user's cut-off.
    pub fn allows_session(&self, session_id: &str, started: OffsetDateTime) -> bool {
        match &self.sessions_cutoff {
            None => true,
            Some(c) => {
                c.keep.as_deref() == Some(session_id)
                    || (started.unix_timestamp_nanos() / 1_000_000) as i64 > c.at_ms
            }
        }
    }
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
    /// Whether the owner confirmed the address by a link mailed to it.
    #[serde(default)]
    pub email_verified: bool,
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
            email_verified: u.email_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }
}
