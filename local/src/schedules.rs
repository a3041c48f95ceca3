//! The schedules that run on AWS by themselves, emulated locally: DynamoDB's
//! TTL sweeper (hourly here; reads already ignore expired items).

use std::sync::Arc;
use std::time::Duration;

use shared::AppState;

/// Starts the background jobs; they stop when the returned handle is aborted.
pub fn start(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ttl_sweep = tokio::time::interval(Duration::from_secs(3600));
        loop {
            ttl_sweep.tick().await;
            if let Some(parts) = &state.embedded {
                match parts.store.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "expired items swept"),
                    Err(e) => tracing::warn!(error = %e, "TTL sweep failed"),
                }
            }
        }
    })
}
