//! The embedded adapters under `config.data_dir`, opened all at once (the
//! local server, which also keeps them as [`Parts`]) or on first use.

use std::sync::Arc;

use shared::config::Config;
use shared::ports::lazy::Lazy;
use shared::ports::{
    BlobStore, ItemStore, MAX_RECEIVES, Mailer, Ports, Queue, QueueError, StoreError,
};

use crate::{FsBlobs, MailDir, SqliteQueue, SqliteStore};

/// The embedded adapters the local server uses directly, beside the ports:
/// presigned blob URLs, the mail folder, the TTL sweeper.
#[derive(Clone)]
pub struct Parts {
    pub store: SqliteStore,
    pub blobs: FsBlobs,
    pub mail: MailDir,
}

/// Why an embedded adapter could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("embedded store: {0}")]
    Store(#[from] StoreError),
    #[error("embedded queue: {0}")]
    Queue(#[from] QueueError),
    #[error("data folder: {0}")]
    Io(#[from] std::io::Error),
}

fn store(config: &Config) -> Result<SqliteStore, OpenError> {
    Ok(SqliteStore::open(&config.data_dir.join("store.sqlite3"))?)
}

fn queue(config: &Config) -> Result<SqliteQueue, OpenError> {
    Ok(SqliteQueue::open(
        &config.data_dir.join("queue.sqlite3"),
        MAX_RECEIVES,
    )?)
}

fn blobs(config: &Config) -> Result<FsBlobs, OpenError> {
    let dir = &config.data_dir;
    let secret = crate::load_or_create_secret(&dir.join("keys").join("blob-url.key"), 32)?;
    Ok(FsBlobs::new(
        dir.join("blobs"),
        &secret,
        &config.public_base_url,
    ))
}

fn mail(config: &Config) -> MailDir {
    MailDir::new(config.data_dir.join("mail"), config.mail_from.clone())
}

/// Every adapter, opened now, and the parts the local server keeps.
pub fn eager(config: &Config) -> Result<(Ports, Parts), OpenError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store = store(config)?;
    let blobs = blobs(config)?;
    let mail = mail(config);
    let ports = Ports {
        store: Arc::new(store.clone()),
        blobs: Arc::new(blobs.clone()),
        queue: Arc::new(queue(config)?),
        mailer: Arc::new(mail.clone()),
    };
    Ok((ports, Parts { store, blobs, mail }))
}

/// One adapter of `config`'s, opened by `open` on first use.
fn on_first_use<T: ?Sized + 'static>(
    config: &Config,
    open: fn(&Config) -> Result<Arc<T>, OpenError>,
) -> Lazy<T> {
    let config = Arc::new(config.clone());
    Lazy::new(move || {
        let config = config.clone();
        Box::pin(async move { open(&config).map_err(|e| e.to_string()) })
    })
}

/// Every adapter, each opened the first time a request reaches it.
pub fn lazy(config: &Config) -> Result<Ports, OpenError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store: Lazy<dyn ItemStore> =
        on_first_use(config, |c| Ok(Arc::new(store(c)?) as Arc<dyn ItemStore>));
    let blobs: Lazy<dyn BlobStore> =
        on_first_use(config, |c| Ok(Arc::new(blobs(c)?) as Arc<dyn BlobStore>));
    let queue: Lazy<dyn Queue> =
        on_first_use(config, |c| Ok(Arc::new(queue(c)?) as Arc<dyn Queue>));
    let mailer: Lazy<dyn Mailer> =
        on_first_use(config, |c| Ok(Arc::new(mail(c)) as Arc<dyn Mailer>));
    Ok(Ports {
        store: Arc::new(store),
        blobs: Arc::new(blobs),
        queue: Arc::new(queue),
        mailer: Arc::new(mailer),
    })
}
