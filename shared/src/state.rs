//! Everything a handler needs, built once per cold start (or once by the
//! local server) and shared by every invocation.

use std::sync::Arc;

use crate::adapters::aws;
use crate::adapters::embedded::{self, FsBlobs, MailDir, SqliteQueue, SqliteStore};
use crate::config::{Backend, Config};
use crate::faults::{Faults, FaultyBlobs, FaultyMailer, FaultyQueue, FaultyStore};
use crate::outbox::Outbox;
use crate::ports::{BlobStore, ItemStore, Mailer, Queue};
use crate::posts::PostsFeed;
use crate::rate_limit::{AbuseLimits, LoginLimiter};
use crate::repo::{AuditRepo, SessionRepo, ShopRepo, TaskRepo, UserRepo};
use crate::tokens::TokenKeys;

/// SQS's `maxReceiveCount` for the user-events queue (the template uses the same).
pub const MAX_RECEIVES: u32 = 5;

#[derive(Clone)]
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn ItemStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn Queue>,
    pub mailer: Arc<dyn Mailer>,
    pub tokens: TokenKeys,
    pub users: UserRepo,
    pub sessions: SessionRepo,
    pub audit: AuditRepo,
    pub tasks: TaskRepo,
    pub shop: ShopRepo,
    pub login_limiter: LoginLimiter,
    pub abuse: AbuseLimits,
    pub outbox: Outbox,
    /// The cached posts feed (this process's copy lives here).
    pub posts: PostsFeed,
    /// The embedded adapters the local server needs directly (presigned blob
    /// URLs, the mail folder, the TTL sweeper); `None` on AWS.
    pub embedded: Option<EmbeddedParts>,
}

/// The four ports a state is built over.
struct Ports {
    store: Arc<dyn ItemStore>,
    blobs: Arc<dyn BlobStore>,
    queue: Arc<dyn Queue>,
    mailer: Arc<dyn Mailer>,
}

#[derive(Clone)]
pub struct EmbeddedParts {
    pub store: SqliteStore,
    pub blobs: FsBlobs,
    pub mail: MailDir,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("keys: {0}")]
    Keys(#[from] crate::tokens::KeyError),
    #[error("embedded store: {0}")]
    Store(#[from] crate::ports::StoreError),
    #[error("embedded queue: {0}")]
    Queue(#[from] crate::ports::QueueError),
    #[error("data folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("AWS: {0}")]
    Aws(String),
}

impl AppState {
    /// Builds the state for `config`, choosing adapters by `config.backend`.
    pub async fn build(config: Config) -> Result<Arc<AppState>, StartupError> {
        let tokens = TokenKeys::from_config(&config)?;
        match config.backend {
            Backend::Embedded => Self::embedded(config, tokens),
            Backend::Aws => Self::aws(config, tokens).await,
        }
    }

    async fn aws(config: Config, tokens: TokenKeys) -> Result<Arc<AppState>, StartupError> {
        let queue_url = config
            .queue_url
            .clone()
            .ok_or_else(|| StartupError::Aws("QUEUE_URL is required".into()))?;
        let sdk = aws::sdk_config(&config).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(config.aws_endpoint_url.is_some())
                .build(),
        );
        let store: Arc<dyn ItemStore> = Arc::new(aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.table_name.clone(),
        ));
        let queue: Arc<dyn Queue> = Arc::new(aws::SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            queue_url,
            config.dead_letter_queue_url.clone(),
        ));
        let blobs: Arc<dyn BlobStore> = Arc::new(aws::S3Blobs::new(s3, config.bucket_name.clone()));
        let mailer: Arc<dyn Mailer> = Arc::new(aws::SesMailer::new(
            aws_sdk_sesv2::Client::new(&sdk),
            config.mail_from.clone(),
        ));
        Ok(Self::assemble(
            config,
            tokens,
            Ports {
                store,
                blobs,
                queue,
                mailer,
            },
            None,
        ))
    }

    fn embedded(config: Config, tokens: TokenKeys) -> Result<Arc<AppState>, StartupError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)?;
        let store = SqliteStore::open(&dir.join("store.sqlite3"))?;
        let queue = SqliteQueue::open(&dir.join("queue.sqlite3"), MAX_RECEIVES)?;
        let secret = embedded::load_or_create_secret(&dir.join("keys").join("blob-url.key"), 32)?;
        let blobs = FsBlobs::new(dir.join("blobs"), &secret, &config.public_base_url);
        let mail = MailDir::new(dir.join("mail"), config.mail_from.clone());
        Ok(Self::assemble(
            config,
            tokens,
            Ports {
                store: Arc::new(store.clone()),
                blobs: Arc::new(blobs.clone()),
                queue: Arc::new(queue),
                mailer: Arc::new(mail.clone()),
            },
            Some(EmbeddedParts { store, blobs, mail }),
        ))
    }

    /// The state over these ports: the one place repositories are built.
    fn assemble(
        config: Config,
        tokens: TokenKeys,
        ports: Ports,
        embedded: Option<EmbeddedParts>,
    ) -> Arc<AppState> {
        let Ports {
            store,
            blobs,
            queue,
            mailer,
        } = ports;
        Arc::new(AppState {
            users: UserRepo::new(store.clone()),
            sessions: SessionRepo::new(store.clone(), &config),
            audit: AuditRepo::new(store.clone()),
            tasks: TaskRepo::new(store.clone()),
            shop: ShopRepo::new(store.clone()),
            login_limiter: LoginLimiter::new(store.clone(), &config),
            abuse: AbuseLimits::new(store.clone(), &config),
            outbox: Outbox::new(store.clone(), queue.clone(), config.outbox_lease),
            posts: PostsFeed::new(store.clone(), &config),
            store,
            blobs,
            queue,
            mailer,
            tokens,
            embedded,
            config,
        })
    }

    /// The same state sending mail through `mailer` (tests record mails).
    pub fn with_mailer(&self, mailer: Arc<dyn Mailer>) -> Arc<AppState> {
        Self::assemble(
            self.config.clone(),
            self.tokens.clone(),
            Ports {
                store: self.store.clone(),
                blobs: self.blobs.clone(),
                queue: self.queue.clone(),
                mailer,
            },
            self.embedded.clone(),
        )
    }

    /// The same state with every port wrapped to fail where `faults` says
    /// (the fault suite's server). Same data, same keys.
    pub fn with_faults(&self, faults: &Arc<Faults>) -> Arc<AppState> {
        Self::assemble(
            self.config.clone(),
            self.tokens.clone(),
            Ports {
                store: Arc::new(FaultyStore {
                    inner: self.store.clone(),
                    faults: faults.clone(),
                }),
                blobs: Arc::new(FaultyBlobs {
                    inner: self.blobs.clone(),
                    faults: faults.clone(),
                }),
                queue: Arc::new(FaultyQueue {
                    inner: self.queue.clone(),
                    faults: faults.clone(),
                }),
                mailer: Arc::new(FaultyMailer {
                    inner: self.mailer.clone(),
                    faults: faults.clone(),
                }),
            },
            self.embedded.clone(),
        )
    }
}
