//! `GET /health`: each dependency's status and latency; 200 when all are up,
//! 503 when any is down.

use std::sync::Arc;
use std::time::Instant;

use edge::ApiError;
use edge::http::{allow, json, respond};
use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::AppState;

#[derive(Serialize)]
struct Check {
    status: &'static str,
    latency_ms: f64,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    backend: &'static str,
    version: &'static str,
    checks: std::collections::BTreeMap<&'static str, Check>,
}

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(health(&state, &req).await)
}

async fn timed<E: std::fmt::Display>(
    name: &str,
    fut: impl Future<Output = Result<(), E>>,
) -> Check {
    let start = Instant::now();
    let result = tokio::time::timeout(std::time::Duration::from_secs(3), fut).await;
    let latency_ms = (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let status = match result {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "health check failed");
            "down"
        }
        Err(_) => {
            tracing::warn!(dependency = name, "health check timed out");
            "down"
        }
    };
    Check { status, latency_ms }
}

async fn health(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::GET])?;
    let (store, blobs, queue) = tokio::join!(
        timed("store", state.store.health()),
        timed("blobs", state.blobs.health()),
        timed("queue", state.queue.health()),
    );
    let checks = [("store", store), ("blobs", blobs), ("queue", queue)]
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>();
    let up = checks.values().all(|c| c.status == "ok");
    let body = Health {
        status: if up { "ok" } else { "degraded" },
        backend: match state.config.backend {
            shared::config::Backend::Embedded => "embedded",
            shared::config::Backend::Aws => "aws",
        },
        version: env!("CARGO_PKG_VERSION"),
        checks,
    };
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = json(status, &body)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
