//! The local server: every function in one process, at the routes of
//! `template.yaml`, behind an emulated API Gateway (see [`gateway`]).

pub mod blobs;
pub mod consumer;
pub mod gateway;
pub mod openapi;
pub mod routes;
pub mod sample_posts;
pub mod schedules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawPathParams, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, get};
use http::StatusCode;
use shared::{AppState, Config};

use crate::gateway::{Incoming, MAX_PAYLOAD_BYTES, dispatch, gateway_message};
use crate::routes::{ROUTES, Route};

/// The router serving every route of [`ROUTES`] plus the blob URLs.
pub fn router(state: Arc<AppState>) -> Router {
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
            methods = methods.on(
                filter,
                move |State(state): State<Arc<AppState>>,
                      ConnectInfo(peer): ConnectInfo<SocketAddr>,
                      params: RawPathParams,
                      req: Request| async move {
                    let (parts, body) = req.into_parts();
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
                    dispatch(state, route, incoming).await
                },
            );
        }
        // API Gateway's HTTP APIs route `/books/` to the `/books` route
        // (the event keeps the raw path; the route key is the route's).
        app = app.route(&format!("{path}/"), methods.clone());
        app = app.route(path, methods);
    }
    let spec = openapi::json();
    app = app
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], spec) }
            }),
        )
        .route(
            "/docs",
            get(|| async { axum::response::Html(openapi::DOCS_HTML) }),
        )
        .route(
            "/docs/redoc.standalone.js",
            get(|| async {
                (
                    [
                        (http::header::CONTENT_TYPE, "application/javascript"),
                        (http::header::CACHE_CONTROL, "public, max-age=86400"),
                    ],
                    openapi::REDOC_JS,
                )
            }),
        );
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
    .layer(middleware::from_fn(log_request))
    .with_state(state)
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
    mut config: Config,
    addr: SocketAddr,
    background: bool,
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
    let state = wrap(AppState::build(config).await?);
    let mut running = serve(state, listener, background);
    running.sample_posts = sample_posts;
    Ok(running)
}

/// Serves an already built state on a bound listener (the fault suite serves
/// a state whose ports fail on demand this way).
pub fn serve(state: Arc<AppState>, listener: tokio::net::TcpListener, background: bool) -> Running {
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let app = router(state.clone());
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
    }
}
