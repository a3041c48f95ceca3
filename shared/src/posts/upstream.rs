//! One post as the upstream sends it, and the check that an answer is a
//! list of them.

use serde::{Deserialize, Serialize};

pub use crate::ports::posts_source::UpstreamError;

/// One post, with the upstream's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Post {
    pub id: u64,
    #[serde(rename = "userId")]
    pub user_id: u64,
    pub title: String,
    pub body: String,
}

/// The shape check: a JSON list of objects with an integer `id` and
/// `userId` and string `title` and `body`. Other fields are dropped; a
/// repeated id keeps its first post.
pub fn parse_posts(bytes: &[u8]) -> Result<Vec<Post>, UpstreamError> {
    let posts: Vec<Post> = serde_json::from_slice(bytes).map_err(|e| {
        // Name the kind of error only: the text would echo upstream bytes.
        let kind = match e.classify() {
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated JSON",
            _ => "invalid JSON",
        };
        UpstreamError::Malformed(format!("not a list of posts ({kind})"))
    })?;
    let mut seen = std::collections::HashSet::with_capacity(posts.len());
    Ok(posts.into_iter().filter(|p| seen.insert(p.id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_is_checked_and_extra_fields_dropped() {
        let ok = br#"[{"id":1,"userId":2,"title":"t","body":"b","extra":true},{"id":1,"userId":3,"title":"dup","body":""}]"#;
        assert_eq!(
            parse_posts(ok).unwrap(),
            vec![Post {
                id: 1,
                user_id: 2,
                title: "t".into(),
                body: "b".into()
            }]
        );
        for bad in [
            &br#"{"id":1}"#[..],
            br#"[{"id":"1","userId":2,"title":"t","body":"b"}]"#,
            br#"[{"id":1,"title":"t","body":"b"}]"#,
            br#"<html>oops</html>"#,
            br#"[{"id":1,"userId":2,"title":"t","body":"b"}"#,
        ] {
            assert!(
                matches!(parse_posts(bad), Err(UpstreamError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
