//! Ports: one trait per capability, written once and used by all domain code.
//!
//! Each has an embedded adapter (the `adapters-embedded` crate) and an AWS
//! adapter (`adapters-aws`); the contract tests in `local/tests/contract_*.rs` run the same
//! assertions against both.

pub mod blob_store;
pub mod item_store;
pub mod lazy;
pub mod mailer;
pub mod posts_source;
pub mod queue;

pub use blob_store::{Blob, BlobError, BlobStore, Served};
pub use item_store::{
    Attrs, Change, Condition, Index, ItemStore, Key, Page, Query, SortKey, StoreError, Write,
};
pub use mailer::{Mail, MailError, Mailer};
pub use posts_source::{PostsSource, UpstreamError};
pub use queue::{MAX_RECEIVES, Queue, QueueError, Received};

use std::sync::Arc;

/// The four ports a state is built over, whichever adapters stand behind
/// them (the adapter crates build these; `AppState::assemble` takes them).
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn ItemStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn Queue>,
    pub mailer: Arc<dyn Mailer>,
}
