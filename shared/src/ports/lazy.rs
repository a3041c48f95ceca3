//! Ports built on first use.
//!
//! A function process builds only the adapters its requests reach: the JWKS
//! function never opens the store, login never builds an SQS or S3 client,
//! the authorizer never opens the queue. What a function *links* is
//! declared once, in its Cargo.toml (its `adapters-aws` features); what it
//! builds follows from use, and a port that fails to build answers as unavailable (503) and is tried again on the next call,
//! instead of refusing the whole cold start. A port whose AWS service the
//! function's build leaves out never builds ([`Lazy::refused`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use crate::ports::blob_store::{Blob, BlobError, BlobStore, Served};
use crate::ports::item_store::{Attrs, ItemStore, Key, Page, Query, StoreError, Write};
use crate::ports::mailer::{Mail, MailError, Mailer};
use crate::ports::queue::{Queue, QueueError, Received};

type Build<T> = Box<dyn Fn() -> BoxFuture<'static, Result<Arc<T>, String>> + Send + Sync>;

/// A port adapter built by `build` the first time it is used.
pub struct Lazy<T: ?Sized> {
    cell: OnceCell<Arc<T>>,
    build: Build<T>,
}

impl<T: ?Sized> Lazy<T> {
    pub fn new(
        build: impl Fn() -> BoxFuture<'static, Result<Arc<T>, String>> + Send + Sync + 'static,
    ) -> Self {
        Lazy {
            cell: OnceCell::new(),
            build: Box::new(build),
        }
    }

    /// A port that never builds: every call answers unavailable with
    /// `why` (a port whose service is not linked into the function).
    pub fn refused(why: String) -> Self {
        Lazy::new(move || {
            let why = why.clone();
            Box::pin(async move { Err(why) })
        })
    }

    /// Whether the adapter has been built (tests and the cold-start benchmark
    /// check that a function builds nothing it does not use).
    pub fn is_built(&self) -> bool {
        self.cell.get().is_some()
    }

    /// The adapter, building it now if this is the first use (concurrent
    /// first uses wait for one build; a failed build is retried next time).
    async fn get(&self) -> Result<&Arc<T>, String> {
        self.cell.get_or_try_init(|| (self.build)()).await
    }
}

#[async_trait]
impl ItemStore for Lazy<dyn ItemStore> {
    async fn get(&self, key: &Key) -> Result<Option<Attrs>, StoreError> {
        self.port_store().await?.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Attrs>>, StoreError> {
        self.port_store().await?.get_many(keys).await
    }
    async fn write(&self, write: Write) -> Result<Option<Attrs>, StoreError> {
        self.port_store().await?.write(write).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.port_store().await?.transact(writes).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.port_store().await?.query(query).await
    }
    async fn scan(&self, cursor: Option<String>) -> Result<Page, StoreError> {
        self.port_store().await?.scan(cursor).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.port_store().await?.health().await
    }
}

impl Lazy<dyn ItemStore> {
    async fn port_store(&self) -> Result<&Arc<dyn ItemStore>, StoreError> {
        self.get().await.map_err(StoreError::Unavailable)
    }
}

#[async_trait]
impl Queue for Lazy<dyn Queue> {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        self.port_queue().await?.send(body).await
    }
    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        self.port_queue().await?.receive(max, visibility).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.port_queue().await?.delete(receipt).await
    }
    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.port_queue()
            .await?
            .change_visibility(receipt, visibility)
            .await
    }
    async fn redrive_dead_letters(&self) -> Result<u32, QueueError> {
        self.port_queue().await?.redrive_dead_letters().await
    }
    async fn dead_letter_count(&self) -> Result<u32, QueueError> {
        self.port_queue().await?.dead_letter_count().await
    }
    async fn health(&self) -> Result<(), QueueError> {
        self.port_queue().await?.health().await
    }
}

impl Lazy<dyn Queue> {
    async fn port_queue(&self) -> Result<&Arc<dyn Queue>, QueueError> {
        self.get().await.map_err(QueueError::Unavailable)
    }
}

#[async_trait]
impl BlobStore for Lazy<dyn BlobStore> {
    async fn put(&self, key: &str, bytes: Bytes, served: &Served) -> Result<(), BlobError> {
        self.port_blobs().await?.put(key, bytes, served).await
    }
    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        self.port_blobs().await?.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.port_blobs().await?.delete(key).await
    }
    async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        download_name: Option<&str>,
    ) -> Result<String, BlobError> {
        self.port_blobs()
            .await?
            .presign_get(key, ttl, download_name)
            .await
    }
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        self.port_blobs()
            .await?
            .presign_put(key, content_type, content_length, ttl)
            .await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.port_blobs().await?.list(prefix).await
    }
    async fn health(&self) -> Result<(), BlobError> {
        self.port_blobs().await?.health().await
    }
}

impl Lazy<dyn BlobStore> {
    async fn port_blobs(&self) -> Result<&Arc<dyn BlobStore>, BlobError> {
        self.get().await.map_err(BlobError::Unavailable)
    }
}

#[async_trait]
impl Mailer for Lazy<dyn Mailer> {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        self.get()
            .await
            .map_err(MailError::Unavailable)?
            .send(mail)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Counting;

    #[async_trait]
    impl Queue for Counting {
        async fn send(&self, _: &str) -> Result<String, QueueError> {
            Ok("id".into())
        }
        async fn receive(&self, _: u32, _: Duration) -> Result<Vec<Received>, QueueError> {
            Ok(vec![])
        }
        async fn delete(&self, _: &str) -> Result<(), QueueError> {
            Ok(())
        }
        async fn change_visibility(&self, _: &str, _: Duration) -> Result<(), QueueError> {
            Ok(())
        }
        async fn redrive_dead_letters(&self) -> Result<u32, QueueError> {
            Ok(0)
        }
        async fn dead_letter_count(&self) -> Result<u32, QueueError> {
            Ok(0)
        }
        async fn health(&self) -> Result<(), QueueError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn builds_once_on_first_use_and_retries_after_a_failure() {
        let builds = Arc::new(AtomicU32::new(0));
        let counter = builds.clone();
        let lazy: Lazy<dyn Queue> = Lazy::new(move || {
            // The first build fails (the store is not there yet), later ones work.
            let attempt = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                match attempt {
                    0 => Err("not yet".into()),
                    _ => Ok(Arc::new(Counting) as Arc<dyn Queue>),
                }
            })
        });
        assert!(!lazy.is_built());
        assert_eq!(builds.load(Ordering::SeqCst), 0, "nothing built before use");
        assert_eq!(
            lazy.send("x").await,
            Err(QueueError::Unavailable("not yet".into()))
        );
        assert!(!lazy.is_built());
        assert_eq!(lazy.send("x").await.as_deref(), Ok("id"));
        assert_eq!(lazy.health().await, Ok(()));
        assert!(lazy.is_built());
        assert_eq!(
            builds.load(Ordering::SeqCst),
            2,
            "built once after the failure"
        );
    }
}
