//! Lambda's SQS event-source mapping, emulated over the queue port: receive a
//! batch, hand it to the consumer's handler as the same `SqsEvent`, delete
//! what succeeded, and leave reported failures to come back after the
//! visibility timeout (and to reach the dead-letter queue after
//! `maxReceiveCount` receives), exactly as SQS does.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;
use shared::AppState;

/// A consumer function's handler, as its Lambda binary runs it.
pub type ConsumerHandler = fn(Arc<AppState>, SqsEvent) -> BoxFuture<'static, SqsBatchResponse>;

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub received: usize,
    pub succeeded: usize,
    pub failed: Vec<String>,
}

/// Receives up to 10 messages and delivers them to `handler` once.
///
/// The event-source mapping's own receives and deletes are made with the
/// consumer's role on AWS (its `AWSLambdaSQSQueueExecutionRole`), so the
/// whole delivery is recorded as `user-events`' calls.
pub async fn deliver_once(
    state: &Arc<AppState>,
    handler: ConsumerHandler,
    visibility: Duration,
) -> Delivery {
    crate::ports::run_as("user-events", deliver(state, handler, visibility)).await
}

async fn deliver(
    state: &Arc<AppState>,
    handler: ConsumerHandler,
    visibility: Duration,
) -> Delivery {
    let messages = match state.queue.receive(10, visibility).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "queue receive failed");
            return Delivery::default();
        }
    };
    if messages.is_empty() {
        return Delivery::default();
    }
    let event = edge::consumer::sqs_event(&messages, "arn:aws:sqs:local:000000000000:user-events");
    // The event source is the gateway's; the handler is user-events'.
    let response = handler(crate::ports::view(state, "user-events"), event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    let mut succeeded = 0;
    for m in &messages {
        if failed.contains(&m.message_id) {
            continue;
        }
        match state.queue.delete(&m.receipt).await {
            Ok(()) => succeeded += 1,
            Err(e) => {
                tracing::warn!(message_id = %m.message_id, error = %e, "delete failed; it will be redelivered")
            }
        }
    }
    Delivery {
        received: messages.len(),
        succeeded,
        failed,
    }
}
