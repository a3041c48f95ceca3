//! The blob store on S3 (path-style addressing when an endpoint such as
//! moto is configured; virtual-hosted on AWS).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::classify;
use shared::ports::blob_store::{Blob, BlobError, BlobStore, Served, attachment, valid_key};

#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

fn sdk_err<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> BlobError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match classify(&e) {
        (true, m) => BlobError::Unavailable(m),
        (false, m) => BlobError::Internal(m),
    }
}

fn checked(key: &str) -> Result<&str, BlobError> {
    if valid_key(key) {
        Ok(key)
    } else {
        Err(BlobError::InvalidKey)
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, BlobError> {
    // S3 allows 1 s .. 7 days.
    let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(7 * 24 * 3600));
    PresigningConfig::expires_in(ttl).map_err(|e| BlobError::Internal(e.to_string()))
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Blobs {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, bytes: Bytes, served: &Served) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(checked(key)?)
            .content_type(&served.content_type)
            .set_content_disposition(served.content_disposition.clone())
            .set_cache_control(served.cache_control.clone())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(checked(key)?)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(sdk_err(e)),
        };
        let content_type = out
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let (content_disposition, cache_control) =
            (out.content_disposition.clone(), out.cache_control.clone());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(e.to_string()))?
            .into_bytes();
        Ok(Some(Blob {
            bytes,
            content_type,
            content_disposition,
            cache_control,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(checked(key)?)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }

    async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<String, BlobError> {
        let disposition = download_name.map(attachment);
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(checked(key)?)
            .set_response_content_disposition(disposition)
            .presigned(presigning(ttl)?)
            .await
            .map_err(sdk_err)?;
        Ok(request.uri().to_owned())
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let length = i64::try_from(content_length).map_err(|_| BlobError::InvalidKey)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(checked(key)?)
            .content_type(content_type)
            .content_length(length)
            .presigned(presigning(ttl)?)
            .await
            .map_err(sdk_err)?;
        Ok(request.uri().to_owned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        checked(prefix.trim_end_matches('/'))?;
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err)?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn health(&self) -> Result<(), BlobError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }
}
