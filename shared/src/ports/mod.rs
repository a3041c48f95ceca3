//! Ports: one trait per capability, written once and used by all domain code.
//!
//! Each has an embedded adapter (`crate::adapters::embedded`) and an AWS
//! adapter; the contract tests in `shared/tests/contract_*.rs` run the same
//! assertions against both.

pub mod blob_store;
pub mod item_store;
pub mod mailer;
pub mod queue;

pub use blob_store::{Blob, BlobError, BlobStore, Served};
pub use item_store::{
    Attrs, Change, Condition, Index, ItemStore, Key, Page, Query, SortKey, StoreError, Write,
};
pub use mailer::{Mail, MailError, Mailer};
pub use queue::{Queue, QueueError, Received};
