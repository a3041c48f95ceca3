//! Which adapters stand behind the ports: the one place the configuration's
//! backend becomes adapters. The local server builds everything at once
//! ([`build`]); a function process builds each adapter the first time a
//! request reaches it ([`for_function`]).

use std::sync::Arc;

use shared::config::{Backend, Config};
use shared::ports::lazy::Lazy;
use shared::ports::{BlobStore, ItemStore, Mailer, PostsSource, Queue, UpstreamError};
use shared::state::AppState;
use shared::tokens::TokenKeys;

#[cfg(feature = "dev")]
use crate::faults::{Faults, FaultyBlobs, FaultyMailer, FaultyQueue, FaultyStore};

/// The embedded adapters the local server keeps beside the ports, in
/// [`AppState::extras`] (`state.extras.get::<EmbeddedParts>()`).
#[cfg(feature = "embedded")]
pub use adapters_embedded::ports::Parts as EmbeddedParts;

/// Which ports a function may reach: the AWS services its Cargo.toml
/// enables on `adapters-aws` (`dynamodb`, `s3`, `sqs`, `ses`). The local
/// server gives each function [`only`] these, so the black-box suites fail
/// where a function's features fall short of what it uses.
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

    /// The ports of a function's `adapters-aws` features; any other feature
    /// is an error (a function has no business enabling `dev` or
    /// `call-log`: they would put test code into its Lambda).
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
                other => return Err(format!("`{other}` is not a port feature of `adapters-aws`")),
            }
        }
        Ok(set)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("keys: {0}")]
    Keys(#[from] shared::tokens::KeyError),
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Embedded(#[from] adapters_embedded::ports::OpenError),
    #[error("data folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("AWS: {0}")]
    Aws(#[from] adapters_aws::ports::SetupError),
    /// The signing key's secret could not be read (missing, not allowed,
    /// empty) or this build cannot read secrets.
    #[error("signing key: {0}")]
    SigningKey(String),
    /// `STORE=embedded` in a build without the `embedded` feature (a Lambda
    /// build): refuse the cold start rather than run on nothing.
    #[error("this build has no embedded adapters (build with `--features edge/embedded`)")]
    NoEmbedded,
}

/// Builds the state for `config`, choosing adapters by `config.backend`,
/// every adapter opened now (the local server, the tests).
pub async fn build(config: Config) -> Result<Arc<AppState>, StartupError> {
    let tokens = token_keys(&config).await?;
    match config.backend {
        #[cfg(feature = "embedded")]
        Backend::Embedded => {
            let (ports, parts) = adapters_embedded::ports::eager(&config)?;
            let mut extras = http::Extensions::new();
            extras.insert(parts);
            let posts = https_posts(&config);
            Ok(AppState::assemble(config, tokens, ports, posts, extras))
        }
        #[cfg(not(feature = "embedded"))]
        Backend::Embedded => Err(StartupError::NoEmbedded),
        Backend::Aws => {
            let ports = adapters_aws::ports::eager(&config).await?;
            let posts = https_posts(&config);
            Ok(AppState::assemble(
                config,
                tokens,
                ports,
                posts,
                Default::default(),
            ))
        }
    }
}

/// The state a function process runs on: the same adapters as [`build`],
/// each built the first time a request reaches it (`shared::ports::lazy`),
/// so a function pays at cold start only for what it uses: the JWKS
/// function parses keys and nothing else, login never builds an S3 or SQS
/// client. No extras: only the local server serves blob URLs and sweeps
/// expired items.
pub async fn for_function(config: Config) -> Result<Arc<AppState>, StartupError> {
    for_function_with(config, no_posts_source).await
}

/// What a function's posts feed reads from, given its configuration.
pub type PostsSourceFor = fn(&Config) -> Arc<dyn PostsSource>;

/// [`for_function`], with the posts feed reading from `posts`: what the
/// `posts` function runs on (`edge::runtime::run_http_reading_posts`).
/// Every other function gets [`no_posts_source`]: a source built (and
/// made a trait object) in each would link the HTTPS client into each,
/// ~0.2 MB, for a feed only `posts` reads.
pub async fn for_function_with(
    config: Config,
    posts: PostsSourceFor,
) -> Result<Arc<AppState>, StartupError> {
    let tokens = token_keys(&config).await?;
    let ports = match config.backend {
        #[cfg(feature = "embedded")]
        Backend::Embedded => adapters_embedded::ports::lazy(&config)?,
        #[cfg(not(feature = "embedded"))]
        Backend::Embedded => return Err(StartupError::NoEmbedded),
        Backend::Aws => adapters_aws::ports::lazy(&config)?,
    };
    let posts = posts(&config);
    Ok(AppState::assemble(
        config,
        tokens,
        ports,
        posts,
        Default::default(),
    ))
}

/// The posts upstream over HTTPS (`POSTS_API_URL`), as the local server,
/// the tests and the `posts` function read it.
pub fn https_posts(config: &Config) -> Arc<dyn PostsSource> {
    Arc::new(adapters_http::HttpsPosts::from_config(config))
}

/// The posts source of a function that does not serve the feed: every
/// fetch is refused as unavailable.
pub fn no_posts_source(_: &Config) -> Arc<dyn PostsSource> {
    Arc::new(NoPostsSource)
}

struct NoPostsSource;

#[async_trait::async_trait]
impl PostsSource for NoPostsSource {
    fn url(&self) -> &str {
        "(none: this function does not read the posts upstream)"
    }

    async fn fetch(&self) -> Result<bytes::Bytes, UpstreamError> {
        Err(UpstreamError::Unavailable(
            "this function does not read the posts upstream".into(),
        ))
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
    let pem = adapters_aws::ports::signing_key_pem(config, secret)
        .await
        .map_err(StartupError::SigningKey)?;
    let mut with_key = config.clone();
    with_key.jwt_private_key_pem = Some(pem);
    Ok(TokenKeys::from_config(&with_key)?)
}

/// The same state, data and caches with the ports outside `allowed`
/// refusing every call (503), as in a function process built without their
/// services' features.
pub fn only(state: &Arc<AppState>, allowed: PortSet) -> Arc<AppState> {
    if allowed == PortSet::ALL {
        return state.clone();
    }
    fn refused<T: ?Sized + 'static>(feature: &str) -> Arc<Lazy<T>> {
        Arc::new(Lazy::refused(adapters_aws::ports::not_linked(feature)))
    }
    let mut ports = state.ports();
    if !allowed.store {
        ports.store = refused::<dyn ItemStore>("dynamodb");
    }
    if !allowed.blobs {
        ports.blobs = refused::<dyn BlobStore>("s3");
    }
    if !allowed.queue {
        ports.queue = refused::<dyn Queue>("sqs");
    }
    if !allowed.mailer {
        ports.mailer = refused::<dyn Mailer>("ses");
    }
    // Everything over the ports is built anew (a service holding a refused
    // port must refuse too); the posts cache stays the server's own when the
    // store does, so a view sees what the others fill (no function without
    // the store uses it).
    let mut view = AppState::clone(&state.over(ports));
    if allowed.store {
        view.posts = state.posts.clone();
    }
    Arc::new(view)
}

/// The same state with every port wrapped to fail where `faults` says (the
/// fault suite's server). Same data, same keys.
#[cfg(feature = "dev")]
pub fn with_faults(state: &AppState, faults: &Arc<Faults>) -> Arc<AppState> {
    let ports = state.ports();
    state.over(shared::ports::Ports {
        store: Arc::new(FaultyStore {
            inner: ports.store,
            faults: faults.clone(),
        }),
        blobs: Arc::new(FaultyBlobs {
            inner: ports.blobs,
            faults: faults.clone(),
        }),
        queue: Arc::new(FaultyQueue {
            inner: ports.queue,
            faults: faults.clone(),
        }),
        mailer: Arc::new(FaultyMailer {
            inner: ports.mailer,
            faults: faults.clone(),
        }),
    })
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
        config.jwt_private_key_pem = Some(shared::tokens::generate_private_key_pem());
        let state = for_function(config).await.unwrap();
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
            state.extras.get::<EmbeddedParts>().is_none(),
            "only the local server keeps the embedded parts"
        );
    }

    /// A view with fewer ports: the undeclared ones answer unavailable and
    /// name the missing feature; the declared ones are the same adapters,
    /// over the same data.
    /// Only the function that brings a posts source reads the upstream;
    /// every other one's feed refuses without a request leaving.
    #[tokio::test]
    async fn only_the_posts_function_reads_the_posts_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path());
        // A closed port: a source that tried would fail differently.
        config.posts_api_url = Some("http://127.0.0.1:9/posts".into());
        let state = for_function(config.clone()).await.unwrap();
        match state.posts.current().await {
            Err(shared::posts::FeedError::Upstream(UpstreamError::Unavailable(why))) => {
                assert!(why.contains("does not read the posts upstream"), "{why}")
            }
            other => panic!("{:?}", other.map(|s| s.status)),
        }
        let reader = for_function_with(config, https_posts).await.unwrap();
        assert_eq!(reader.posts_source.url(), "http://127.0.0.1:9/posts");
        match reader.posts.current().await {
            Err(shared::posts::FeedError::Upstream(UpstreamError::Unavailable(why))) => {
                assert!(!why.contains("does not read"), "{why}")
            }
            other => panic!("{:?}", other.map(|s| s.status)),
        }
    }

    #[tokio::test]
    async fn a_view_refuses_the_ports_a_function_did_not_declare() {
        let dir = tempfile::tempdir().unwrap();
        let state = build(Config::embedded(dir.path())).await.unwrap();
        let store_only = only(&state, PortSet::from_features(["dynamodb"]).unwrap());
        let err = store_only.blobs.list("x/").await.unwrap_err();
        assert!(
            matches!(&err, shared::ports::BlobError::Unavailable(m) if m.contains("`s3`")),
            "{err:?}"
        );
        assert!(matches!(
            store_only.queue.send("{}").await,
            Err(shared::ports::QueueError::Unavailable(_))
        ));
        // The store is the server's own: a write through the view is there.
        store_only
            .store
            .write(shared::ports::item_store::Write::Put {
                item: serde_json::from_value(serde_json::json!({"pk": "P", "sk": "S"})).unwrap(),
                condition: None,
            })
            .await
            .unwrap();
        let key = shared::ports::item_store::Key {
            pk: "P".into(),
            sk: "S".into(),
        };
        assert!(state.store.get(&key).await.unwrap().is_some());
        // No store: its repositories refuse too.
        let none = only(&state, PortSet::default());
        assert!(matches!(
            none.users.get("u").await,
            Err(shared::repo::RepoError::Store(
                shared::ports::StoreError::Unavailable(_)
            ))
        ));
        assert!(state.users.get("u").await.unwrap().is_none());
        // Everything: the state itself.
        assert!(Arc::ptr_eq(&only(&state, PortSet::ALL), &state));
    }

    /// The local server opens everything at start (and keeps the parts it
    /// serves blob URLs and sweeps expired items with).
    #[tokio::test]
    async fn the_local_server_builds_everything_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let state = build(Config::embedded(dir.path())).await.unwrap();
        for name in ["store.sqlite3", "queue.sqlite3", "keys/blob-url.key"] {
            assert!(dir.path().join(name).exists(), "{name} not opened at start");
        }
        assert!(state.extras.get::<EmbeddedParts>().is_some());
    }
}
