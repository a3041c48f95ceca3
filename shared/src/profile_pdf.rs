//! Where a user's profile PDF lives, and the record of what it shows.
//!
//! One PDF per user, at a fixed blob key (so deleting the account can find
//! it without listing the bucket), and one item beside the user saying which
//! profile version it was drawn from:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | PDF record | `USER#{id}` | `PROFILE_PDF` |

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::service_error::StorageError;
use std::sync::Arc;

use crate::ports::item_store::Write;
use crate::ports::{BlobStore, ItemStore};

/// The blob key of a user's profile PDF.
pub fn blob_key(user_id: &str) -> String {
    crate::blob_keys::profile_pdf(user_id)
}

use crate::table_keys::profile_pdf as record_key;

/// What the stored PDF shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdfRecord {
    /// The profile version it was drawn from.
    pub profile_version: u64,
    pub size_bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
}

/// The profile PDFs, over the stores they live in: the PDF in the blob
/// store, its record in the item store.
#[derive(Clone)]
pub struct ProfilePdfs {
    store: Arc<dyn ItemStore>,
    blobs: Arc<dyn BlobStore>,
}

impl ProfilePdfs {
    pub fn new(store: Arc<dyn ItemStore>, blobs: Arc<dyn BlobStore>) -> Self {
        ProfilePdfs { store, blobs }
    }

    pub async fn record(&self, user_id: &str) -> Result<Option<PdfRecord>, StorageError> {
        Ok(self
            .store
            .get(&record_key(user_id))
            .await?
            .map(crate::repo::from_item)
            .transpose()?)
    }

    /// Records a PDF written to [`blob_key`] (after the blob, so a record never
    /// points at a PDF that is not there).
    pub async fn save_record(&self, user_id: &str, record: &PdfRecord) -> Result<(), StorageError> {
        self.save_record_with(user_id, record, Vec::new()).await
    }

    /// [`Self::save_record`] with `extra` writes in the same commit (an
    /// idempotency key's answer).
    pub async fn save_record_with(
        &self,
        user_id: &str,
        record: &PdfRecord,
        extra: Vec<Write>,
    ) -> Result<(), StorageError> {
        let item = crate::repo::to_item(record, &record_key(user_id))?;
        let put = Write::Put {
            item,
            condition: None,
        };
        self.store.write_with(put, extra).await?;
        Ok(())
    }

    /// Removes the user's PDF and its record (account deletion); safe to repeat.
    pub async fn delete_for_user(&self, user_id: &str) -> Result<(), StorageError> {
        // The record first: a record must never point at a missing PDF.
        self.store.delete(record_key(user_id), None).await?;
        self.blobs.delete(&blob_key(user_id)).await?;
        Ok(())
    }
}
