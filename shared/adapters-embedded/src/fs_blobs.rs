//! The blob store as a folder, with presigned URLs that work like S3's: the
//! URL carries its method, expiry and an HMAC-SHA256 signature made with a
//! secret kept under the data folder; the local server serves
//! `GET`/`PUT /_blobs/{key}` and checks them with [`FsBlobs::verify`].

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::now_secs;
use shared::ports::blob_store::{Blob, BlobError, BlobStore, Served, valid_key};

#[derive(Clone)]
pub struct FsBlobs {
    root: PathBuf,
    key: hmac::Key,
    base_url: String,
}

/// What a valid presigned URL allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobGrant {
    pub key: String,
    /// For PUT: the content type the upload must declare.
    pub content_type: Option<String>,
    /// For PUT: the exact size the body must have.
    pub content_length: Option<u64>,
    /// For GET: the attachment file name to answer with.
    pub download_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobUrlError {
    #[error("the URL is malformed")]
    Malformed,
    #[error("the URL has expired")]
    Expired,
    #[error("the signature does not match")]
    BadSignature,
}

#[derive(Serialize, Deserialize)]
struct Signed {
    method: String,
    expires: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    ct: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    dn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cl: String,
    #[serde(default)]
    sig: String,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_control: Option<String>,
}

fn io_err(e: std::io::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

impl FsBlobs {
    pub fn new(root: impl Into<PathBuf>, secret: &[u8], base_url: &str) -> Self {
        FsBlobs {
            root: root.into(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn paths(&self, key: &str) -> Result<(PathBuf, PathBuf), BlobError> {
        if !valid_key(key) {
            return Err(BlobError::InvalidKey);
        }
        Ok((
            self.root.join("objects").join(key),
            self.root.join("meta").join(format!("{key}.json")),
        ))
    }

    fn canonical(method: &str, key: &str, s: &Signed) -> String {
        format!(
            "{method}\n{key}\n{}\n{}\n{}\n{}",
            s.expires, s.ct, s.dn, s.cl
        )
    }

    fn sign_url(
        &self,
        method: &str,
        key: &str,
        ttl: Duration,
        ct: &str,
        dn: &str,
        cl: Option<u64>,
    ) -> Result<String, BlobError> {
        if !valid_key(key) {
            return Err(BlobError::InvalidKey);
        }
        let mut signed = Signed {
            method: method.into(),
            expires: now_secs() + ttl.as_secs() as i64,
            ct: ct.into(),
            dn: dn.into(),
            cl: cl.map(|n| n.to_string()).unwrap_or_default(),
            sig: String::new(),
        };
        signed.sig = hex::encode(hmac::sign(
            &self.key,
            Self::canonical(method, key, &signed).as_bytes(),
        ));
        let query =
            serde_urlencoded::to_string(&signed).map_err(|e| BlobError::Internal(e.to_string()))?;
        Ok(format!("{}/_blobs/{key}?{query}", self.base_url))
    }

    /// Checks a presigned URL's query for `method` on `key`.
    pub fn verify(&self, method: &str, key: &str, query: &str) -> Result<BlobGrant, BlobUrlError> {
        let signed: Signed =
            serde_urlencoded::from_str(query).map_err(|_| BlobUrlError::Malformed)?;
        if !valid_key(key) || signed.method != method {
            return Err(BlobUrlError::Malformed);
        }
        let sig = hex::decode(&signed.sig).map_err(|_| BlobUrlError::Malformed)?;
        hmac::verify(
            &self.key,
            Self::canonical(method, key, &signed).as_bytes(),
            &sig,
        )
        .map_err(|_| BlobUrlError::BadSignature)?;
        if signed.expires <= now_secs() {
            return Err(BlobUrlError::Expired);
        }
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        Ok(BlobGrant {
            key: key.into(),
            content_type: non_empty(signed.ct),
            download_name: non_empty(signed.dn),
            content_length: signed.cl.parse().ok(),
        })
    }
}

async fn write_atomically(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = path.with_file_name(format!(".{}.tmp", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

#[async_trait]
impl BlobStore for FsBlobs {
    async fn put(&self, key: &str, bytes: Bytes, served: &Served) -> Result<(), BlobError> {
        let (object, meta) = self.paths(key)?;
        let meta_json = serde_json::to_vec(&Meta {
            content_type: served.content_type.clone(),
            content_disposition: served.content_disposition.clone(),
            cache_control: served.cache_control.clone(),
        })
        .map_err(|e| BlobError::Internal(e.to_string()))?;
        write_atomically(&meta, &meta_json).await.map_err(io_err)?;
        write_atomically(&object, &bytes).await.map_err(io_err)
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        let (object, meta) = self.paths(key)?;
        let bytes = match tokio::fs::read(&object).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let meta = tokio::fs::read(&meta)
            .await
            .ok()
            .and_then(|m| serde_json::from_slice::<Meta>(&m).ok())
            .unwrap_or_else(|| Meta {
                content_type: "application/octet-stream".into(),
                content_disposition: None,
                cache_control: None,
            });
        Ok(Some(Blob {
            bytes: bytes.into(),
            content_type: meta.content_type,
            content_disposition: meta.content_disposition,
            cache_control: meta.cache_control,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let (object, meta) = self.paths(key)?;
        for path in [object, meta] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(())
    }

    async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<String, BlobError> {
        self.sign_url("GET", key, ttl, "", download_name.unwrap_or_default(), None)
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        self.sign_url("PUT", key, ttl, content_type, "", Some(content_length))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let folder = prefix.trim_end_matches('/');
        if !valid_key(folder) {
            return Err(BlobError::InvalidKey);
        }
        let objects = self.root.join("objects");
        let mut keys = Vec::new();
        let mut pending = vec![objects.join(folder)];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
                let path = entry.path();
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue; // a write in progress
                }
                if entry.file_type().await.map_err(io_err)?.is_dir() {
                    pending.push(path);
                } else if let Ok(rel) = path.strip_prefix(&objects) {
                    keys.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn health(&self) -> Result<(), BlobError> {
        tokio::fs::create_dir_all(self.root.join("objects"))
            .await
            .map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_of(url: &str) -> (&str, &str) {
        let rest = url.split("/_blobs/").nth(1).unwrap();
        rest.split_once('?').unwrap()
    }

    #[tokio::test]
    async fn urls_verify_only_as_signed() {
        let blobs = FsBlobs::new("/nonexistent", b"k1", "http://h");
        let url = blobs
            .presign_put("a/b.png", "image/png", 10, Duration::from_secs(60))
            .await
            .unwrap();
        let (key, query) = query_of(&url);
        let grant = blobs.verify("PUT", key, query).unwrap();
        assert_eq!(grant.content_type.as_deref(), Some("image/png"));
        assert_eq!(
            blobs.verify("GET", key, query),
            Err(BlobUrlError::Malformed)
        );
        assert_eq!(
            blobs.verify("PUT", "a/c.png", query),
            Err(BlobUrlError::BadSignature)
        );
        let tampered = query.replace("image%2Fpng", "text%2Fhtml");
        assert_eq!(
            blobs.verify("PUT", key, &tampered),
            Err(BlobUrlError::BadSignature)
        );
        let other = FsBlobs::new("/nonexistent", b"k2", "http://h");
        assert_eq!(
            other.verify("PUT", key, query),
            Err(BlobUrlError::BadSignature)
        );
    }

    #[tokio::test]
    async fn urls_expire() {
        let blobs = FsBlobs::new("/nonexistent", b"k1", "http://h");
        let url = blobs
            .presign_get("a", Duration::from_secs(0), None)
            .await
            .unwrap();
        let (key, query) = query_of(&url);
        assert_eq!(blobs.verify("GET", key, query), Err(BlobUrlError::Expired));
    }
}
