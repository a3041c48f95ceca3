//! What every Lambda `main` does: set up logging, build the state once, and
//! hand each event to the function's handler.

use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};

use shared::config::Config;
use shared::state::AppState;

/// JSON logs on Lambda (CloudWatch parses them), readable lines locally;
/// `RUST_LOG` filters (default `info`): a level, or `target=level`
/// directives (`info,adapters_aws=debug`). `Targets` reads those without
/// `EnvFilter`'s regex engine, which would add ~0.2 MB to every binary.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_target(false);
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .without_time()
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.finish().with(filter).try_init()
    };
}

/// `RUST_LOG`'s filter; `info` when unset or unreadable.
fn log_filter(directives: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    directives
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Builds the state from the environment, failing the cold start loudly
/// (Lambda reports an init error) rather than serving broken requests.
pub async fn state_from_env() -> Result<Arc<AppState>, lambda_http::Error> {
    state_from_env_with(crate::wiring::no_posts_source).await
}

/// [`state_from_env`] with the posts feed reading from `posts`.
pub async fn state_from_env_with(
    posts: crate::wiring::PostsSourceFor,
) -> Result<Arc<AppState>, lambda_http::Error> {
    init_tracing();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "cold start refused"))?;
    // Lambda reports the init error; the log says which setting to fix.
    Ok(crate::wiring::for_function_with(config, posts)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cold start refused"))?)
}

/// Runs an HTTP function on Lambda.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<AppState>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    run_http_reading_posts(crate::wiring::no_posts_source, handler).await
}

/// [`run_http`] for the function that serves the posts feed: its state's
/// feed reads from `posts` (`edge::wiring::https_posts`).
pub async fn run_http_reading_posts<F, Fut>(
    posts: crate::wiring::PostsSourceFor,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<AppState>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    let state = state_from_env_with(posts).await?;
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let fut = handler(state.clone(), req);
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_takes_a_level_or_directives() {
        let unset = log_filter(None);
        assert!(unset.would_enable("login", &Level::INFO));
        assert!(!unset.would_enable("login", &Level::DEBUG));
        let debug = log_filter(Some("debug"));
        assert!(debug.would_enable("login", &Level::DEBUG));
        let mixed = log_filter(Some("warn,adapters_aws=debug"));
        assert!(mixed.would_enable("adapters_aws::dynamo_store", &Level::DEBUG));
        assert!(!mixed.would_enable("login", &Level::INFO));
        let unreadable = log_filter(Some("login=loud"));
        assert!(unreadable.would_enable("login", &Level::INFO));
        assert!(!unreadable.would_enable("login", &Level::DEBUG));
    }
}
