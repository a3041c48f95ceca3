//! The event queue on SQS. Dead-lettering after `maxReceiveCount` is SQS's
//! own redrive policy (see `template.yaml`); redrive moves messages back
//! from the dead-letter queue by receive, send and delete.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::classify;
use shared::ports::queue::{Queue, QueueError, Received};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: Option<String>,
}

fn sdk_err<E, R>(e: aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match classify(&e) {
        (true, m) => QueueError::Unavailable(m),
        (false, m) => QueueError::Internal(m),
    }
}

/// SQS counts visibility in whole seconds (0..=43200).
fn seconds(d: Duration) -> i32 {
    d.as_secs_f64().ceil().clamp(0.0, 43_200.0) as i32
}

impl SqsQueue {
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_url: Option<String>,
    ) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
            dead_letter_url,
        }
    }

    async fn receive_from(
        &self,
        url: &str,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(seconds(visibility))
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Some(Received {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        self.receive_from(&self.queue_url, max, visibility).await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }

    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }

    async fn redrive_dead_letters(&self) -> Result<u32, QueueError> {
        let Some(dlq) = &self.dead_letter_url else {
            return Err(QueueError::Internal(
                "DEAD_LETTER_QUEUE_URL is not set".into(),
            ));
        };
        let mut moved = 0;
        loop {
            let batch = self.receive_from(dlq, 10, Duration::from_secs(30)).await?;
            if batch.is_empty() {
                return Ok(moved);
            }
            for m in batch {
                // Send first, then delete: a crash in between duplicates a
                // message (consumers are idempotent) but never loses one.
                self.send(&m.body).await?;
                self.client
                    .delete_message()
                    .queue_url(dlq)
                    .receipt_handle(&m.receipt)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                moved += 1;
            }
        }
    }

    async fn dead_letter_count(&self) -> Result<u32, QueueError> {
        let Some(dlq) = &self.dead_letter_url else {
            return Ok(0);
        };
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(dlq)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out
            .attributes
            .and_then(|a| {
                a.get(&QueueAttributeName::ApproximateNumberOfMessages)
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0))
    }

    async fn health(&self) -> Result<(), QueueError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_err)
    }
}
