//! The local server: every function in one process, at the routes of
//! `template.yaml`, behind an emulated API Gateway (see [`gateway`]).

pub mod api_event;
pub mod blobs;
pub mod consumer;
pub mod cors;
pub mod gateway;
pub mod lambda;
pub mod openapi;
pub mod ports;
pub mod routes;
pub mod sample_posts;
pub mod schedules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, OriginalUri, RawPathParams, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, get};
use http::StatusCode;
use shared::{AppState, Config};

use crate::gateway::{Functions, Incoming, MAX_PAYLOAD_BYTES, dispatch, gateway_message};
use crate::routes::{ROUTES, Route};

/// An API mapping's path (`api/v1`): API Gateway serves the whole API under
/// it as well as at the root when a custom domain maps both. The event keeps
/// the mapping in `rawPath` and `requestContext.http.path`; the route key is
/// the route's, so handlers never see a difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasePath(String);

impl BasePath {
    /// One or more segments of the characters API Gateway allows in a
    /// mapping key; leading and trailing slashes are dropped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim().trim_matches('/');
        let allowed = |c: char| c.is_ascii_alphanumeric() || "$-_.+!*'(),".contains(c);
        if trimmed.is_empty()
            || trimmed
                .split('/')
                .any(|segment| segment.is_empty() || !segment.chars().all(allowed))
        {
            return Err(format!(
                "{text:?} is not an API mapping path: segments of letters, digits and $-_.+!*'(), separated by /"
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// `/api/v1`.
    pub fn prefix(&self) -> String {
        format!("/{}", self.0)
    }
}

impl std::str::FromStr for BasePath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// The router serving every route of [`ROUTES`] plus the blob URLs, with
/// the API under each of `base_paths` as well (the blob URLs stay at the
/// root: they stand for S3, not the API), running the functions as
/// `functions` says (`--lambda`: their binaries).
pub fn router(state: Arc<AppState>, base_paths: &[BasePath], functions: &Functions) -> Router {
    let mut app = Router::new().merge(api_routes(functions));
    for base in base_paths {
        app = app.nest(&base.prefix(), api_routes(functions));
    }
    app.route(
        "/_blobs/{*key}",
        get(blobs::get)
            .put(blobs::put)
            // Presigned uploads go straight to S3, not through API Gateway:
            // the largest avatar original, not the gateway's payload limit.
            .layer(DefaultBodyLimit::max(16 * 1024 * 1024)),
    )
    .fallback(|| async { gateway_message(StatusCode::NOT_FOUND, "Not Found") })
    .layer(DefaultBodyLimit::disable())
    .layer(middleware::from_fn_with_state(state.clone(), cors::layer))
    .layer(middleware::from_fn(log_request))
    .with_state(state)
}

/// Every route of [`ROUTES`], as API Gateway matches them.
fn api_routes(functions: &Functions) -> Router<Arc<AppState>> {
    let mut by_path: BTreeMap<&str, Vec<&'static Route>> = BTreeMap::new();
    for route in ROUTES {
        by_path.entry(route.path).or_default().push(route);
    }
    let mut app = Router::new();
    for (path, routes) in by_path {
        let mut methods: MethodRouter<Arc<AppState>> = MethodRouter::new()
            .fallback(|| async { gateway_message(StatusCode::NOT_FOUND, "Not Found") });
        for route in routes {
            let filter =
                MethodFilter::try_from(route.method.parse::<http::Method>().expect("valid method"))
                    .expect("supported method");
            let functions = functions.clone();
            methods = methods.on(
                filter,
                move |State(state): State<Arc<AppState>>,
                      ConnectInfo(peer): ConnectInfo<SocketAddr>,
                      params: RawPathParams,
                      req: Request| async move {
                    let (mut parts, body) = req.into_parts();
                    // Under a base path the event keeps the whole path, as
                    // API Gateway's does (axum's nest strips it).
                    if let Some(OriginalUri(original)) = parts.extensions.remove::<OriginalUri>() {
                        parts.uri = original;
                    }
                    let body = match axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await {
                        Ok(b) => b,
                        Err(_) => {
                            return gateway_message(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "Request Entity Too Large",
                            );
                        }
                    };
                    let incoming = Incoming {
                        method: parts.method,
                        uri: parts.uri,
                        headers: parts.headers,
                        body,
                        path_params: params
                            .iter()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect(),
                        peer,
                    };
                    dispatch(state, &functions, route, incoming).await
                },
            );
        }
        // API Gateway's HTTP APIs route `/books/` to the `/books` route
        // (the event keeps the raw path; the route key is the route's).
        app = app.route(&format!("{path}/"), methods.clone());
        app = app.route(path, methods);
    }
    app
}

/// One structured log line per request.
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let start = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        latency_ms = start.elapsed().as_secs_f64() * 1000.0,
        request_id = response.headers().get("apigw-requestid").and_then(|v| v.to_str().ok()).unwrap_or_default(),
        "request"
    );
    response
}

/// A running local server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub schedules: tokio::task::JoinHandle<()>,
    /// The built-in posts upstream, when `POSTS_API_URL` was not set.
    pub sample_posts: Option<sample_posts::SamplePosts>,
    /// How the functions run (in process, or their binaries).
    pub functions: Functions,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
        self.schedules.abort();
    }
}

/// Binds `addr` (port 0 picks a free port), builds the state with the bound
/// address as the public base URL (unless configured), and serves.
pub async fn start(
    config: Config,
    addr: SocketAddr,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    start_with(config, addr, true).await
}

/// [`start`], choosing whether the background jobs (consumer, relay, TTL
/// sweep) run; tests that drive them by hand turn them off.
pub async fn start_with(
    config: Config,
    addr: SocketAddr,
    background: bool,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    start_wrapped(config, addr, background, |s| s).await
}

/// [`start_with`], serving the state `wrap` makes of the built one (tests
/// wrap a port, e.g. to read the mails the mailer sends).
pub async fn start_wrapped(
    config: Config,
    addr: SocketAddr,
    background: bool,
    wrap: impl FnOnce(Arc<AppState>) -> Arc<AppState>,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    start_full(config, addr, background, &[], None, wrap).await
}

/// Where the binary mode finds the function binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The folder of the binaries (`target/release`, say).
    pub dir: std::path::PathBuf,
    /// Whether the processes' own output is dropped (tests) rather than
    /// shown on this terminal.
    pub quiet: bool,
}

/// The variables `template.yaml` declares for the functions (Globals and
/// their own): `sam local` lets an env-vars file set only these (a test
/// keeps the list equal to the template's).
pub const TEMPLATE_VARIABLES: &[&str] = &[
    "JWT_PUBLIC_JWKS",
    "JWT_PREVIOUS_JWKS",
    "STORE",
    "TABLE_NAME",
    "BUCKET_NAME",
    "QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "JWT_PRIVATE_KEY_SECRET",
    "ACCESS_TOKEN_TTL_SECONDS",
    "ADMIN_EMAILS",
    "SIGNUP_CONCEALS_EXISTING",
    "MAIL_FROM",
    "APP_BASE_URL",
    "RUST_LOG",
    "AWS_ENDPOINT_URL",
    "POSTS_API_URL",
    "POSTS_FRESH_SECONDS",
];

/// An env-vars file for `sam local invoke|start-api --env-vars`: `config`
/// (the one `--lambda` hands its processes, from the same
/// [`Config::to_env`]) for every function, limited to the variables the
/// template declares.
pub fn sam_env(config: &Config) -> serde_json::Value {
    let mut vars = serde_json::Map::new();
    for (name, value) in config.to_env() {
        if TEMPLATE_VARIABLES.contains(&name.as_str()) {
            vars.insert(name, serde_json::Value::String(value));
        }
    }
    vars.insert("RUST_LOG".into(), "info".into());
    serde_json::json!({ "Parameters": vars })
}

/// Everything [`start_wrapped`] does, with the API under `base_paths` as
/// well (`--base-path`), and with `binaries` the binary mode: each
/// function runs as its own process (see [`lambda`]); the background jobs
/// stay in this one.
pub async fn start_full(
    mut config: Config,
    addr: SocketAddr,
    background: bool,
    base_paths: &[BasePath],
    binaries: Option<Binaries>,
    wrap: impl FnOnce(Arc<AppState>) -> Arc<AppState>,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    // Offline by default: the posts feed reads a built-in upstream on loopback.
    let sample_posts = match config.posts_api_url {
        Some(_) => None,
        None => {
            let sample = sample_posts::SamplePosts::start().await?;
            config.posts_api_url = Some(sample.url());
            Some(sample)
        }
    };
    if !config.public_base_url_set {
        config = config.with_public_base_url(&format!("http://{addr}"));
    }
    let state = wrap(edge::wiring::build(config.clone()).await?);
    let functions = match binaries {
        None => Functions::InProcess,
        Some(b) => {
            let env = lambda::function_env(&config, &state)?;
            Functions::Binaries(Arc::new(lambda::Runner::new(b.dir, env, b.quiet)))
        }
    };
    let mut running = serve_with(state, listener, background, base_paths, &functions);
    running.sample_posts = sample_posts;
    Ok(running)
}

/// Serves an already built state on a bound listener (the fault suite serves
/// a state whose ports fail on demand this way).
pub fn serve(state: Arc<AppState>, listener: tokio::net::TcpListener, background: bool) -> Running {
    serve_with(state, listener, background, &[], &Functions::InProcess)
}

fn serve_with(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    background: bool,
    base_paths: &[BasePath],
    functions: &Functions,
) -> Running {
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let app = router(state.clone(), base_paths, functions);
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let schedules = if background {
        schedules::start(state.clone())
    } else {
        tokio::spawn(async {})
    };
    Running {
        addr,
        state,
        server,
        schedules,
        sample_posts: None,
        functions: functions.clone(),
    }
}
