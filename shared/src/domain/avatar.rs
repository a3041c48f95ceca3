//! A user's avatar: the record kept on the user (the images live in the
//! blob store) and the short-lived links clients get.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The current avatar, recorded on the user with the profile's conditional
/// write (so a new avatar is a new profile version, and a stored profile
/// PDF no longer shows the current profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Avatar {
    /// Names this avatar's folder: `avatars/{user}/{id}/`.
    pub id: String,
    /// `image/jpeg`, or `image/png` when the original was transparent.
    pub content_type: String,
    /// The large rendition (`side` × `side` pixels).
    pub key: String,
    pub side: u32,
    /// The small rendition.
    pub thumbnail_key: String,
    pub thumbnail_side: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Avatar {
    /// Every blob this avatar owns.
    pub fn keys(&self) -> [&str; 2] {
        [&self.key, &self.thumbnail_key]
    }
}

/// Links to a user's avatar (presigned GETs), never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AvatarLinks {
    /// The 512 × 512 rendition.
    pub url: String,
    /// The 128 × 128 rendition.
    pub thumbnail_url: String,
    /// When both links stop working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub content_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
