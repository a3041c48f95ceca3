//! Every key layout of the blob store (the S3 bucket, the local blob
//! folder), in one place, as [`crate::table_keys`] holds the table's:
//!
//! | object | key |
//! |---|---|
//! | avatar rendition | `avatars/{user}/{avatar id}/{side}.{ext}` |
//! | presigned upload, until `media-process` handles it | `uploads/{user}/{uuid}` |
//! | profile PDF | `pdfs/{user}/profile.pdf` |
//!
//! The bucket's notification (`template.yaml`) and the local server report
//! new objects under [`UPLOADS`] to `media-process`.

/// Where presigned uploads land.
pub const UPLOADS: &str = "uploads/";

/// One rendition of an avatar.
pub fn avatar_rendition(user_id: &str, avatar_id: &str, side: u32, ext: &str) -> String {
    format!("avatars/{user_id}/{avatar_id}/{side}.{ext}")
}

/// Everything under a user's avatars.
pub fn avatars_of(user_id: &str) -> String {
    format!("avatars/{user_id}/")
}

/// A new presigned upload of `user_id`.
pub fn upload(user_id: &str, id: uuid::Uuid) -> String {
    format!("{UPLOADS}{user_id}/{id}")
}

/// Everything under a user's uploads.
pub fn uploads_of(user_id: &str) -> String {
    format!("{UPLOADS}{user_id}/")
}

/// The user an upload key belongs to; `None` for any other key.
pub fn upload_owner(key: &str) -> Option<&str> {
    let mut parts = key.strip_prefix(UPLOADS)?.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(user), Some(id), None) if !user.is_empty() && uuid::Uuid::parse_str(id).is_ok() => {
            Some(user)
        }
        _ => None,
    }
}

/// A user's profile PDF.
pub fn profile_pdf(user_id: &str) -> String {
    format!("pdfs/{user_id}/profile.pdf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_key_names_its_owner_and_nothing_else_does() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(upload_owner(&upload("u1", id)), Some("u1"));
        assert!(upload("u1", id).starts_with(&uploads_of("u1")));
        for other in [
            format!("uploads/u1/{id}/x"),
            "uploads/u1/not-a-uuid".to_owned(),
            format!("uploads//{id}"),
            format!("avatars/u1/{id}"),
            profile_pdf("u1"),
        ] {
            assert_eq!(upload_owner(&other), None, "{other}");
        }
        assert!(avatar_rendition("u1", "a", 512, "jpg").starts_with(&avatars_of("u1")));
    }
}
