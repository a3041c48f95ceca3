//! The event queue port (SQS on AWS, a SQLite table when embedded).
//!
//! Semantics follow SQS standard queues: at-least-once delivery; a received
//! message is hidden for the visibility timeout and comes back unless
//! deleted; after `max_receives` receives it moves to the dead-letter queue.

use std::time::Duration;

use async_trait::async_trait;

/// How many receives before a message moves to the dead-letter queue: SQS's
/// `maxReceiveCount` for the user-events queue (the template uses the same)
/// and the embedded queue's.
pub const MAX_RECEIVES: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// Handle for `delete` / `change_visibility`; changes on every receive.
    pub receipt: String,
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue error: {0}")]
    Internal(String),
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one message; returns its id.
    async fn send(&self, body: &str) -> Result<String, QueueError>;
    /// Receives up to `max` (1..=10) visible messages, hiding them for `visibility`.
    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<Received>, QueueError>;
    /// Deletes a received message (it was handled).
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;
    /// Makes a received message visible again after `visibility` (0 = now).
    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError>;
    /// Moves every dead letter back to the queue; returns how many moved.
    async fn redrive_dead_letters(&self) -> Result<u32, QueueError>;
    /// Approximate number of dead letters.
    async fn dead_letter_count(&self) -> Result<u32, QueueError>;
    async fn health(&self) -> Result<(), QueueError>;
}
