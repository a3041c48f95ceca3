//! Everything a handler needs, shared by every invocation: built whole by
//! the local server ([`AppState::build`]), or in a function process with
//! each adapter built on first use ([`AppState::for_function`]).

use std::sync::Arc;

#[cfg(feature = "embedded")]
use crate::adapters::embedded::{FsBlobs, MailDir, SqliteStore};
use crate::adapters::lazy::Lazy;
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

/// Which ports a function may reach: the AWS services its Cargo.toml
/// enables on `shared` (`dynamodb`, `s3`, `sqs`, `ses`). The local server
/// gives each function [`AppState::only`] these, so the black-box suites
/// fail where a function's features fall short of what it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortSet {
    pub store: bool,
    pub blobs: bool,
    pub queue: bool,
    pub mailer: bool,
}

impl PortSet {
    pub const ALL: PortSet = PortSet {
        store: true,
        blobs: true,
        queue: true,
        mailer: true,
    };

    /// The ports of a function's `shared` features; any other feature is an
    /// error (a function has no business enabling `embedded` or `dev`:
    /// they would put SQLite or test code into its Lambda).
    pub fn from_features<'a>(features: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = PortSet::default();
        for feature in features {
            match feature {
                "dynamodb" => set.store = true,
                "s3" => set.blobs = true,
                "sqs" => set.queue = true,
                "ses" => set.mailer = true,
                // The signing key's secret, read at cold start: not a port.
                "secrets" => {}
                other => return Err(format!("`{other}` is not a port feature of `shared`")),
            }
        }
        Ok(set)
    }
}

/// What a refused port says (and logs) when a request reaches it.
fn not_linked(feature: &str) -> String {
    format!(
        "this function is built without the `{feature}` feature of `shared` (add it to the function's Cargo.toml)"
    )
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
    /// The signing key's secret could not be read (missing, not allowed,
    /// empty) or this build cannot read secrets.
    #[error("signing key: {0}")]
    SigningKey(String),
    /// `STORE=embedded` in a build without the `embedded` feature (a Lambda
    /// build): refuse the cold start rather than run on nothing.
    #[error("this build has no embedded adapters (build with `--features shared/embedded`)")]
    NoEmbedded,
}

impl AppState {
    /// Builds the state for `config`, choosing adapters by `config.backend`.
    pub async fn build(config: Config) -> Result<Arc<AppState>, StartupError> {
        let tokens = token_keys(&config).await?;
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
        let tokens = token_keys(&config).await?;
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

    /// The same state, data and caches with the ports outside `allowed`
    /// refusing every call (503), as in a function process built without
    /// their services' features.
    pub fn only(self: &Arc<Self>, allowed: PortSet) -> Arc<AppState> {
        if allowed == PortSet::ALL {
            return self.clone();
        }
        fn refused<T: ?Sized + 'static>(feature: &str) -> Arc<Lazy<T>> {
            Arc::new(Lazy::refused(not_linked(feature)))
        }
        if !allowed.store {
            // Everything built over the store goes too (no function without
            // the store uses the posts cache this drops).
            let ports = Ports {
                store: refused::<dyn ItemStore>("dynamodb"),
                blobs: self.blobs.clone(),
                queue: self.queue.clone(),
                mailer: self.mailer.clone(),
            };
            let state = Self::assemble(
                self.config.clone(),
                self.tokens.clone(),
                ports,
                self.embedded.clone(),
            );
            return state.only(PortSet {
                store: true,
                ..allowed
            });
        }
        let mut state = AppState::clone(self);
        if !allowed.blobs {
            state.blobs = refused::<dyn BlobStore>("s3");
        }
        if !allowed.queue {
            state.queue = refused::<dyn Queue>("sqs");
            state.outbox = Outbox::new(
                state.store.clone(),
                state.queue.clone(),
                state.config.outbox_lease,
            );
        }
        if !allowed.mailer {
            state.mailer = refused::<dyn Mailer>("ses");
        }
        Arc::new(state)
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

/// The token keys. When the configuration names the signing key's secret
/// (`JWT_PRIVATE_KEY_SECRET`: the deployed login and refresh), the key is
/// read from Secrets Manager here, once per process, and kept only inside
/// [`TokenKeys`]; a secret that cannot be read fails the start.
async fn token_keys(config: &Config) -> Result<TokenKeys, StartupError> {
    let secret = match (&config.jwt_private_key_secret, &config.jwt_private_key_pem) {
        (Some(secret), None) => secret,
        _ => return Ok(TokenKeys::from_config(config)?),
    };
    #[cfg(feature = "secrets")]
    {
        let sdk = crate::adapters::aws::sdk_config(config).await;
        let pem = crate::adapters::aws::read_secret_string(&sdk, secret)
            .await
            .map_err(StartupError::SigningKey)?;
        let mut with_key = config.clone();
        with_key.jwt_private_key_pem = Some(pem);
        Ok(TokenKeys::from_config(&with_key)?)
    }
    #[cfg(not(feature = "secrets"))]
    Err(StartupError::SigningKey(format!(
        "JWT_PRIVATE_KEY_SECRET names {secret:?}, but this function is built without the `secrets` feature of `shared`"
    )))
}

/// The AWS adapters over one `SdkConfig`, built all at once or on first use.
/// Each is behind its service's feature; in a build without it, the port
/// fails to build (`not_linked`), so a request that reaches it answers 503
/// and the log names the missing feature.
mod aws_ports {
    use std::sync::Arc;

    use super::{Ports, StartupError};
    use crate::adapters::lazy::Lazy;
    use crate::config::Config;
    use crate::ports::{BlobStore, ItemStore, Mailer, Queue};

    #[cfg(feature = "aws")]
    use crate::adapters::aws;
    #[cfg(feature = "aws")]
    use aws_config::SdkConfig;

    /// What a port's builder says when its service is not in this build.
    #[allow(dead_code)] // unused when every service is linked
    fn not_linked<T: ?Sized>(feature: &str) -> Result<Arc<T>, String> {
        Err(super::not_linked(feature))
    }

    #[cfg(feature = "aws")]
    type Sdk = SdkConfig;
    /// Without any AWS feature there is no SDK configuration to share.
    #[cfg(not(feature = "aws"))]
    type Sdk = ();

    fn store(_sdk: &Sdk, _config: &Config) -> Result<Arc<dyn ItemStore>, String> {
        #[cfg(feature = "dynamodb")]
        return Ok(Arc::new(aws::DynamoStore::new(
            aws::client!(aws_sdk_dynamodb, _sdk),
            _config.table_name.clone(),
        )));
        #[cfg(not(feature = "dynamodb"))]
        not_linked("dynamodb")
    }

    fn blobs(_sdk: &Sdk, _config: &Config) -> Result<Arc<dyn BlobStore>, String> {
        #[cfg(feature = "s3")]
        return {
            let path_style = _config.aws_endpoint_url.is_some();
            let s3 = aws::client!(aws_sdk_s3, _sdk, |b: aws_sdk_s3::config::Builder| b
                .force_path_style(path_style));
            Ok(Arc::new(aws::S3Blobs::new(s3, _config.bucket_name.clone())))
        };
        #[cfg(not(feature = "s3"))]
        not_linked("s3")
    }

    fn queue(_sdk: &Sdk, _config: &Config, _url: String) -> Result<Arc<dyn Queue>, String> {
        #[cfg(feature = "sqs")]
        return Ok(Arc::new(aws::SqsQueue::new(
            aws::client!(aws_sdk_sqs, _sdk),
            _url,
            _config.dead_letter_queue_url.clone(),
        )));
        #[cfg(not(feature = "sqs"))]
        not_linked("sqs")
    }

    fn mailer(_sdk: &Sdk, _config: &Config) -> Result<Arc<dyn Mailer>, String> {
        #[cfg(feature = "ses")]
        return Ok(Arc::new(aws::SesMailer::new(
            aws::client!(aws_sdk_sesv2, _sdk),
            _config.mail_from.clone(),
        )));
        #[cfg(not(feature = "ses"))]
        not_linked("ses")
    }

    async fn sdk_config(_config: &Config) -> Sdk {
        #[cfg(feature = "aws")]
        return aws::sdk_config(_config).await;
        #[cfg(not(feature = "aws"))]
        ()
    }

    fn queue_url(config: &Config) -> Result<String, StartupError> {
        config
            .queue_url
            .clone()
            .ok_or_else(|| StartupError::Aws("QUEUE_URL is required".into()))
    }

    /// Every adapter, now: a service missing from the build refuses the
    /// start (the local server and the tests link them all).
    pub(super) async fn eager(config: &Config) -> Result<Ports, StartupError> {
        let url = queue_url(config)?;
        let sdk = sdk_config(config).await;
        Ok(Ports {
            store: store(&sdk, config).map_err(StartupError::Aws)?,
            blobs: blobs(&sdk, config).map_err(StartupError::Aws)?,
            queue: queue(&sdk, config, url).map_err(StartupError::Aws)?,
            mailer: mailer(&sdk, config).map_err(StartupError::Aws)?,
        })
    }

    /// The SDK configuration and the client of one port, built on first use.
    /// The configuration (credentials chain, region, the HTTPS client with its
    /// root certificates) is loaded once, by whichever client comes first.
    fn on_first_use<T: ?Sized + 'static>(
        shared: &Arc<(tokio::sync::OnceCell<Sdk>, Config)>,
        make: impl Fn(&Sdk, &Config) -> Result<Arc<T>, String> + Send + Sync + 'static,
    ) -> Lazy<T> {
        let shared = shared.clone();
        let make = Arc::new(make);
        Lazy::new(move || {
            let (shared, make) = (shared.clone(), make.clone());
            Box::pin(async move {
                let (sdk, config) = &*shared;
                make(sdk.get_or_init(|| sdk_config(config)).await, config)
            })
        })
    }

    pub(super) fn lazy(config: &Config) -> Result<Ports, StartupError> {
        let url = queue_url(config)?;
        let shared = Arc::new((tokio::sync::OnceCell::<Sdk>::new(), config.clone()));
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

    /// A view with fewer ports: the undeclared ones answer unavailable and
    /// name the missing feature; the declared ones are the same adapters,
    /// over the same data.
    #[tokio::test]
    async fn a_view_refuses_the_ports_a_function_did_not_declare() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::build(Config::embedded(dir.path())).await.unwrap();
        let store_only = state.only(PortSet::from_features(["dynamodb"]).unwrap());
        let err = store_only.blobs.list("x/").await.unwrap_err();
        assert!(
            matches!(&err, crate::ports::BlobError::Unavailable(m) if m.contains("`s3`")),
            "{err:?}"
        );
        assert!(matches!(
            store_only.queue.send("{}").await,
            Err(crate::ports::QueueError::Unavailable(_))
        ));
        // The store is the server's own: a write through the view is there.
        store_only
            .store
            .write(crate::ports::item_store::Write::Put {
                item: serde_json::from_value(serde_json::json!({"pk": "P", "sk": "S"})).unwrap(),
                condition: None,
            })
            .await
            .unwrap();
        let key = crate::ports::item_store::Key {
            pk: "P".into(),
            sk: "S".into(),
        };
        assert!(state.store.get(&key).await.unwrap().is_some());
        // No store: its repositories refuse too.
        let none = state.only(PortSet::default());
        assert!(matches!(
            none.users.get("u").await,
            Err(crate::repo::RepoError::Store(
                crate::ports::StoreError::Unavailable(_)
            ))
        ));
        assert!(state.users.get("u").await.unwrap().is_none());
        // Everything: the state itself.
        assert!(Arc::ptr_eq(&state.only(PortSet::ALL), &state));
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
