//! The outbox relay: sends every unsent outbox record to the queue in order
//! of occurrence. Runs every minute (EventBridge on AWS, the local server's
//! scheduler locally); safe to run twice at once (see `shared::outbox`).

use serde_json::{Value, json};
use shared::AppState;

/// One run; fails (so Lambda reports an error) only when the store does.
pub async fn run(state: &AppState) -> Result<Value, String> {
    match state.outbox.relay(10_000).await {
        Ok((sent, skipped, failed)) => {
            if sent + failed > 0 {
                tracing::info!(sent, skipped, failed, "outbox relayed");
            }
            Ok(json!({ "sent": sent, "skipped": skipped, "failed": failed }))
        }
        Err(e) => {
            tracing::error!(error = %e, "outbox relay failed");
            Err(e.to_string())
        }
    }
}
