//! The consumer side of the queue: an SQS-triggered Lambda handler that
//! reports partial batch failures (`ReportBatchItemFailures`), so one bad
//! message is retried alone instead of failing its whole batch.
//!
//! The same [`process_batch`] runs on Lambda and under the local server's
//! poller, which builds the identical `SqsEvent` from the queue port.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use shared::ports::Received;
use shared::state::AppState;

/// Handles every message of a batch in order; returns the ids of those that
/// failed, which SQS makes visible again after the visibility timeout.
pub async fn process_batch<F, Fut, E>(event: &SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(&SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(e) = handle(message).await {
            tracing::warn!(message_id = %id, error = %e, "message failed; it will be retried");
            response.batch_item_failures.push(failure(id));
        }
    }
    response
}

fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}

/// The event Lambda's SQS poller sends for received messages, built from
/// `aws_lambda_events`' own types (nothing can be lost in a JSON round trip).
pub fn sqs_event(messages: &[Received], queue_arn: &str) -> SqsEvent {
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).to_string();
    let records = messages
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = Some(m.message_id.clone());
            r.receipt_handle = Some(m.receipt.clone());
            r.body = Some(m.body.clone());
            r.attributes = HashMap::from([
                (
                    "ApproximateReceiveCount".to_owned(),
                    m.receive_count.to_string(),
                ),
                ("SentTimestamp".to_owned(), now_ms.clone()),
                (
                    "ApproximateFirstReceiveTimestamp".to_owned(),
                    now_ms.clone(),
                ),
            ]);
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(queue_arn.into());
            r.aws_region = Some("us-east-1".into());
            r
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// Runs an SQS consumer function on Lambda.
pub async fn run_sqs<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<AppState>, SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse> + Send,
{
    let state = crate::runtime::state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let fut = handler(state.clone(), event.payload);
            async move { Ok::<_, std::convert::Infallible>(fut.await) }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn only_failed_messages_are_reported() {
        let received: Vec<Received> = ["ok-1", "poison", "ok-2"]
            .iter()
            .enumerate()
            .map(|(i, body)| Received {
                message_id: format!("m{i}"),
                receipt: format!("r{i}"),
                body: (*body).into(),
                receive_count: 1,
            })
            .collect();
        let event = sqs_event(&received, "arn:aws:sqs:us-east-1:000000000000:q");
        assert_eq!(event.records.len(), 3);
        let response = process_batch(&event, |m| {
            let poison = m.body.as_deref() == Some("poison");
            async move { if poison { Err("cannot parse") } else { Ok(()) } }
        })
        .await;
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["m1"]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
    }
}
