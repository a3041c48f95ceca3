//! What the services that work across the item store and the blob store
//! ([`crate::avatars`], [`crate::profile_pdf`], [`crate::one_time`]) fail
//! with. Like [`crate::repo::RepoError`], it says what went wrong below, not
//! which HTTP status to answer: the edge maps it once
//! (`From<StorageError> for ApiError`).

use crate::ports::{BlobError, StoreError};
use crate::repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A record's conditional write kept losing to concurrent changes
    /// through every retry.
    #[error("still contended after retries")]
    Contended,
    /// The service was handed something its own contract rules out (a bug).
    #[error("{0}")]
    Bug(&'static str),
}

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        StorageError::Repo(RepoError::Store(e))
    }
}
