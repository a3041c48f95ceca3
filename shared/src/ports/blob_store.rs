//! The blob store port (S3 on AWS, a folder when embedded).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub bytes: Bytes,
    pub content_type: String,
    /// As stored with the object ([`Served`]).
    pub content_disposition: Option<String>,
    pub cache_control: Option<String>,
}

/// The headers an object is served with, stored with it when it is written
/// (S3's system metadata, returned on every GET of the object or of a
/// presigned URL; the embedded store keeps them beside the object and its
/// blob route answers with them, plus `X-Content-Type-Options: nosniff`,
/// which S3 cannot store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub content_type: String,
    pub content_disposition: Option<String>,
    pub cache_control: Option<String>,
}

impl Served {
    /// Only a content type: what arrives through a presigned upload (never
    /// served back; `no-store` in case a URL ever is).
    pub fn upload(content_type: &str) -> Self {
        Served {
            content_type: content_type.to_owned(),
            content_disposition: Some(attachment("upload")),
            cache_control: Some("no-store".into()),
        }
    }

    /// Shown in the browser under a safe file name, cached as `cache_control`
    /// says (see the callers for why each lifetime fits).
    pub fn inline(content_type: &str, file_name: &str, cache_control: &str) -> Self {
        Served {
            content_type: content_type.to_owned(),
            content_disposition: Some(inline(file_name)),
            cache_control: Some(cache_control.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob key")]
    InvalidKey,
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
    #[error("blob store error: {0}")]
    Internal(String),
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Bytes, served: &Served) -> Result<(), BlobError>;
    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError>;
    /// Deleting a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// A URL anyone can GET until `ttl` passes; `download_name` sets
    /// `Content-Disposition: attachment; filename=...` on the answer.
    async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<String, BlobError>;
    /// A URL anyone can PUT a body of exactly `content_length` bytes of
    /// `content_type` to until `ttl` passes (both are signed: another size
    /// or type is refused, as S3 refuses a request that breaks its signature).
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError>;
    /// The keys under `prefix` (a folder: it ends with `/`), in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    async fn health(&self) -> Result<(), BlobError>;
}

/// A file name safe in a header: printable ASCII without quotes or
/// backslashes (no header injection).
fn safe_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect()
}

/// `Content-Disposition: attachment` for a download name.
pub fn attachment(name: &str) -> String {
    format!("attachment; filename=\"{}\"", safe_name(name))
}

/// `Content-Disposition: inline` under a file name.
pub fn inline(name: &str) -> String {
    format!("inline; filename=\"{}\"", safe_name(name))
}

/// Keys are relative paths of safe segments: no `..`, no leading `/`, no
/// empty segment, only `[A-Za-z0-9._-]` in a segment.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn download_names_cannot_inject_headers() {
        assert_eq!(
            super::attachment("a \"b\"\r\nX: y.pdf"),
            "attachment; filename=\"abX:y.pdf\""
        );
        assert_eq!(super::inline("a\r\n\"b.png"), "inline; filename=\"ab.png\"");
    }

    #[test]
    fn keys_cannot_escape() {
        assert!(super::valid_key("avatars/u1/a.png"));
        for bad in ["", "/a", "a//b", "../a", "a/../b", "a/./b", "a b", "a\\b"] {
            assert!(!super::valid_key(bad), "{bad}");
        }
    }
}
