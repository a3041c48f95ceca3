//! What runs by itself on AWS, emulated locally:
//! - the SQS event-source mapping feeding `user-events` (polled every
//!   250 ms; reported failures come back after a 30 s visibility timeout and
//!   reach the dead-letter queue after `maxReceiveCount` receives);
//! - the `outbox-relay` schedule (every minute, as in `template.yaml`);
//! - DynamoDB's TTL sweeper (hourly; reads already ignore expired items).

use edge::wiring::EmbeddedParts;
use std::sync::Arc;
use std::time::Duration;

use shared::AppState;

/// The local consumer's visibility timeout (SQS uses the queue's: 180 s).
pub const LOCAL_VISIBILITY: Duration = Duration::from_secs(30);
pub const RELAY_EVERY: Duration = Duration::from_secs(60);

/// Starts the background jobs; they stop when the returned handle is aborted.
pub fn start(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let consumer = crate::routes::user_events_consumer();
        let mut poll = tokio::time::interval(Duration::from_millis(250));
        let mut relay = tokio::time::interval(RELAY_EVERY);
        let mut sweep = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    // Keep delivering while there is work, like a busy poller.
                    while crate::consumer::deliver_once(&state, consumer, LOCAL_VISIBILITY).await.received > 0 {}
                }
                _ = relay.tick() => {
                    // It logs its own failure; the next tick retries.
                    let relay = crate::ports::view(&state, "outbox-relay");
                    let _ = crate::ports::run_as("outbox-relay", outbox_relay::run(&relay)).await;
                }
                _ = sweep.tick() => {
                    if let Some(parts) = state.extras.get::<EmbeddedParts>() {
                        match parts.store.purge_expired().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(removed = n, "expired items swept"),
                            Err(e) => tracing::warn!(error = %e, "TTL sweep failed"),
                        }
                    }
                }
            }
        }
    })
}
