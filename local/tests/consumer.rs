//! The SQS consumer side on both backends: a batch with one poison message
//! reports exactly that message; it comes back, and after `maxReceiveCount`
//! receives it lands in the dead-letter queue; redrive brings it back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use common::{TestBackend, state};
use shared::AppState;
use shared::ports::MAX_RECEIVES;

on_both_backends!(one_poison_message_fails_alone);

/// A consumer that refuses bodies that are not JSON.
fn strict_json(
    _state: Arc<AppState>,
    event: SqsEvent,
) -> futures::future::BoxFuture<'static, SqsBatchResponse> {
    Box::pin(async move {
        edge::consumer::process_batch(&event, |m| {
            let body = m.body.clone().unwrap_or_default();
            async move { serde_json::from_str::<serde_json::Value>(&body).map(|_| ()) }
        })
        .await
    })
}

async fn one_poison_message_fails_alone(b: TestBackend) {
    let (_d, s) = state(b).await;
    for body in ["{\"n\":1}", "not json", "{\"n\":2}"] {
        s.queue.send(body).await.unwrap();
    }
    let mut total = local::consumer::Delivery::default();
    for _ in 0..3 {
        let d = local::consumer::deliver_once(&s, strict_json, Duration::ZERO).await;
        total.received += d.received;
        total.succeeded += d.succeeded;
        total.failed.extend(d.failed);
        if total.received >= 3 {
            break;
        }
    }
    assert_eq!(
        (total.received, total.succeeded, total.failed.len()),
        (3, 2, 1)
    );
    // Only the poison message is left; it keeps failing until dead-lettered.
    for _ in 1..MAX_RECEIVES {
        let d = local::consumer::deliver_once(&s, strict_json, Duration::ZERO).await;
        assert_eq!((d.received, d.failed.len()), (1, 1));
    }
    assert_eq!(
        local::consumer::deliver_once(&s, strict_json, Duration::ZERO)
            .await
            .received,
        0
    );
    assert_eq!(s.queue.dead_letter_count().await.unwrap(), 1);
    assert_eq!(s.queue.redrive_dead_letters().await.unwrap(), 1);
    let back = s.queue.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back[0].body, "not json");
}
