//! What every Lambda `main` does: set up logging, build the state once, and
//! hand each event to the function's handler.

use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};

use shared::config::Config;
use shared::state::AppState;

/// JSON logs on Lambda (CloudWatch parses them), readable lines locally;
/// `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder.json().without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// Builds the state from the environment, failing the cold start loudly
/// (Lambda reports an init error) rather than serving broken requests.
pub async fn state_from_env() -> Result<Arc<AppState>, lambda_http::Error> {
    init_tracing();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "cold start refused"))?;
    // Lambda reports the init error; the log says which setting to fix.
    Ok(crate::wiring::for_function(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cold start refused"))?)
}

/// Runs an HTTP function on Lambda.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<AppState>, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    let state = state_from_env().await?;
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let fut = handler(state.clone(), req);
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    }))
    .await
}
