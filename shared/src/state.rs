//! Everything a handler needs, shared by every invocation: built whole by
//! the local server ([`AppState::build`]), or in a function process with
//! each adapter built on first use ([`AppState::for_function`]).

use std::sync::Arc;

#[cfg(feature = "embedded")]
use crate::adapters::embedded::{FsBlobs, MailDir, SqliteStore};
use crate::config::{Backend, Config};
#[cfg(feature = "dev")]
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

/// Without the `embedded` feature there are none: the field above is always
/// `None`, and code that reads it compiles in both builds.
#[cfg(not(feature = "embedded"))]
#[derive(Clone)]
pub enum EmbeddedParts {}

#[cfg(feature = "embedded")]
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
    /// `STORE=embedded` in a build without the `embedded` feature (a Lambda
    /// build): refuse the cold start rather than run on nothing.
    #[error("this build has no embedded adapters (build with `--features shared/embedded`)")]
    NoEmbedded,
}

impl AppState {
    /// Builds the state for `config`, choosing adapters by `config.backend`.
    pub async fn build(config: Config) -> Result<Arc<AppState>, StartupError> {
        let tokens = TokenKeys::from_config(&config)?;
        match config.backend {
            #[cfg(feature = "embedded")]
            Backend::Embedded => Self::embedded(config, tokens),
            #[cfg(not(feature = "embedded"))]
            Backend::Embedded => Err(StartupError::NoEmbedded),
            Backend::Aws => Self::aws(config, tokens).await,
        }
    }

    /// The state a function process runs on: the same adapters as
    /// [`AppState::build`], each built the first time a request reaches it
    /// (`adapters::lazy`), so a function pays at cold start only for what it
    /// uses: the JWKS function parses keys and nothing else, login never
    /// builds an S3 or SQS client. No embedded parts: only the local server
    /// serves blob URLs and sweeps expired items.
    pub async fn for_function(config: Config) -> Result<Arc<AppState>, StartupError> {
        let tokens = TokenKeys::from_config(&config)?;
        let ports = match config.backend {
            #[cfg(feature = "embedded")]
            Backend::Embedded => embedded_ports::lazy(&config)?,
            #[cfg(not(feature = "embedded"))]
            Backend::Embedded => return Err(StartupError::NoEmbedded),
            Backend::Aws => aws_ports::lazy(&config)?,
        };
        Ok(Self::assemble(config, tokens, ports, None))
    }

    async fn aws(config: Config, tokens: TokenKeys) -> Result<Arc<AppState>, StartupError> {
        let ports = aws_ports::eager(&config).await?;
        Ok(Self::assemble(config, tokens, ports, None))
    }

    #[cfg(feature = "embedded")]
    fn embedded(config: Config, tokens: TokenKeys) -> Result<Arc<AppState>, StartupError> {
        let (ports, parts) = embedded_ports::eager(&config)?;
        Ok(Self::assemble(config, tokens, ports, Some(parts)))
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
    #[cfg(feature = "dev")]
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

/// The AWS adapters over one `SdkConfig`, built all at once or on first use.
mod aws_ports {
    use std::sync::Arc;

    use aws_config::SdkConfig;
    use tokio::sync::OnceCell;

    use super::{Ports, StartupError};
    use crate::adapters::aws;
    use crate::adapters::lazy::Lazy;
    use crate::config::Config;
    use crate::ports::{BlobStore, ItemStore, Mailer, Queue};

    fn store(sdk: &SdkConfig, config: &Config) -> Arc<dyn ItemStore> {
        Arc::new(aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
        ))
    }

    fn blobs(sdk: &SdkConfig, config: &Config) -> Arc<dyn BlobStore> {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(config.aws_endpoint_url.is_some())
                .build(),
        );
        Arc::new(aws::S3Blobs::new(s3, config.bucket_name.clone()))
    }

    fn queue(sdk: &SdkConfig, config: &Config, url: String) -> Arc<dyn Queue> {
        Arc::new(aws::SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            url,
            config.dead_letter_queue_url.clone(),
        ))
    }

    fn mailer(sdk: &SdkConfig, config: &Config) -> Arc<dyn Mailer> {
        Arc::new(aws::SesMailer::new(
            aws_sdk_sesv2::Client::new(sdk),
            config.mail_from.clone(),
        ))
    }

    fn queue_url(config: &Config) -> Result<String, StartupError> {
        config
            .queue_url
            .clone()
            .ok_or_else(|| StartupError::Aws("QUEUE_URL is required".into()))
    }

    pub(super) async fn eager(config: &Config) -> Result<Ports, StartupError> {
        let url = queue_url(config)?;
        let sdk = aws::sdk_config(config).await;
        Ok(Ports {
            store: store(&sdk, config),
            blobs: blobs(&sdk, config),
            queue: queue(&sdk, config, url),
            mailer: mailer(&sdk, config),
        })
    }

    /// The SDK configuration and the client of one port, built on first use.
    /// The configuration (credentials chain, region, the HTTPS client with its
    /// root certificates) is loaded once, by whichever client comes first.
    fn on_first_use<T: ?Sized + 'static>(
        shared: &Arc<(OnceCell<SdkConfig>, Config)>,
        make: impl Fn(&SdkConfig, &Config) -> Arc<T> + Send + Sync + 'static,
    ) -> Lazy<T> {
        let shared = shared.clone();
        let make = Arc::new(make);
        Lazy::new(move || {
            let (shared, make) = (shared.clone(), make.clone());
            Box::pin(async move {
                let (sdk, config) = &*shared;
                Ok(make(
                    sdk.get_or_init(|| aws::sdk_config(config)).await,
                    config,
                ))
            })
        })
    }

    pub(super) fn lazy(config: &Config) -> Result<Ports, StartupError> {
        let url = queue_url(config)?;
        let shared = Arc::new((OnceCell::<SdkConfig>::new(), config.clone()));
        let store: Lazy<dyn ItemStore> = on_first_use(&shared, store);
        let blobs: Lazy<dyn BlobStore> = on_first_use(&shared, blobs);
        let queue: Lazy<dyn Queue> =
            on_first_use(&shared, move |sdk, config| queue(sdk, config, url.clone()));
        let mailer: Lazy<dyn Mailer> = on_first_use(&shared, mailer);
        Ok(Ports {
            store: Arc::new(store),
            blobs: Arc::new(blobs),
            queue: Arc::new(queue),
            mailer: Arc::new(mailer),
        })
    }
}

/// The embedded adapters under `config.data_dir`, opened all at once (the
/// local server, which also keeps them as [`EmbeddedParts`]) or on first use.
#[cfg(feature = "embedded")]
mod embedded_ports {
    use std::sync::Arc;

    use super::{EmbeddedParts, MAX_RECEIVES, Ports, StartupError};
    use crate::adapters::embedded::{FsBlobs, MailDir, SqliteQueue, SqliteStore};
    use crate::adapters::lazy::Lazy;
    use crate::config::Config;
    use crate::ports::{BlobStore, ItemStore, Mailer, Queue};

    fn store(config: &Config) -> Result<SqliteStore, StartupError> {
        Ok(SqliteStore::open(&config.data_dir.join("store.sqlite3"))?)
    }

    fn queue(config: &Config) -> Result<SqliteQueue, StartupError> {
        Ok(SqliteQueue::open(
            &config.data_dir.join("queue.sqlite3"),
            MAX_RECEIVES,
        )?)
    }

    fn blobs(config: &Config) -> Result<FsBlobs, StartupError> {
        let dir = &config.data_dir;
        let secret =
            crate::files::load_or_create_secret(&dir.join("keys").join("blob-url.key"), 32)?;
        Ok(FsBlobs::new(
            dir.join("blobs"),
            &secret,
            &config.public_base_url,
        ))
    }

    fn mail(config: &Config) -> MailDir {
        MailDir::new(config.data_dir.join("mail"), config.mail_from.clone())
    }

    pub(super) fn eager(config: &Config) -> Result<(Ports, EmbeddedParts), StartupError> {
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
        Ok((ports, EmbeddedParts { store, blobs, mail }))
    }

    /// One adapter of `config`'s, opened by `open` on first use.
    fn on_first_use<T: ?Sized + 'static>(
        config: &Config,
        open: fn(&Config) -> Result<Arc<T>, StartupError>,
    ) -> Lazy<T> {
        let config = Arc::new(config.clone());
        Lazy::new(move || {
            let config = config.clone();
            Box::pin(async move { open(&config).map_err(|e| e.to_string()) })
        })
    }

    pub(super) fn lazy(config: &Config) -> Result<Ports, StartupError> {
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
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;

    /// A function process opens an adapter only when a request reaches it:
    /// keys alone build nothing; a store read opens the store and nothing else.
    #[tokio::test]
    async fn a_function_builds_only_what_its_requests_use() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path());
        config.jwt_private_key_pem = Some(crate::tokens::generate_private_key_pem());
        let state = AppState::for_function(config).await.unwrap();
        let exists = |name: &str| dir.path().join(name).exists();
        // What the JWKS function does with its state.
        assert_eq!(state.tokens.jwks().keys.len(), 1);
        assert!(!exists("store.sqlite3"), "the store opened at cold start");
        assert!(!exists("queue.sqlite3"), "the queue opened at cold start");
        assert!(
            !exists("keys/blob-url.key"),
            "the blob store built at cold start"
        );
        // What the authorizer does: reads, no queue, no blobs.
        assert!(state.users.get("nobody").await.unwrap().is_none());
        assert!(exists("store.sqlite3"));
        assert!(!exists("queue.sqlite3"));
        assert!(!exists("keys/blob-url.key"));
        // The queue when something is sent.
        state.queue.send("{}").await.unwrap();
        assert!(exists("queue.sqlite3"));
        assert!(
            state.embedded.is_none(),
            "only the local server keeps the embedded parts"
        );
    }

    /// The local server opens everything at start (and keeps the parts it
    /// serves blob URLs and sweeps expired items with).
    #[tokio::test]
    async fn the_local_server_builds_everything_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::build(Config::embedded(dir.path())).await.unwrap();
        for name in ["store.sqlite3", "queue.sqlite3", "keys/blob-url.key"] {
            assert!(dir.path().join(name).exists(), "{name} not opened at start");
        }
        assert!(state.embedded.is_some());
    }
}
