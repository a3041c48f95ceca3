//! Avatars from untrusted images: [`pipeline`] turns an upload into the
//! two renditions (bounded in pixels and bytes before anything is
//! allocated), and [`process_and_install`] runs it off the async threads and
//! installs the result through [`shared::avatars::install`]. Both upload
//! paths end here: `media-upload` (the image in the request) and
//! `media-process` (a presigned upload, when S3 reports it).

#[cfg(feature = "samples")]
pub mod hostile;
pub mod pipeline;

use shared::avatars::NewRendition;
use shared::domain::User;
use shared::service_error::StorageError;

pub use pipeline::ImageRejected;

/// Why an image did not become the account's avatar.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The image itself is refused (format, size, corrupt data): the
    /// uploader's to fix, never worth a retry.
    #[error(transparent)]
    Rejected(#[from] ImageRejected),
    /// The account was deleted while its image was processed.
    #[error("the account no longer exists")]
    AccountGone,
    /// The store or the blobs failed: worth a retry.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The pipeline's thread ended without an answer (it panicked).
    #[error("the image pipeline stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

/// Processes `bytes` on a blocking thread and installs both renditions as
/// the avatar of `user_id`.
pub async fn process_and_install(
    state: &shared::AppState,
    user_id: &str,
    bytes: Vec<u8>,
) -> Result<User, InstallError> {
    let processed = tokio::task::spawn_blocking(move || pipeline::process(&bytes)).await??;
    let renditions = processed
        .renditions
        .into_iter()
        .map(|r| NewRendition {
            side: r.side,
            bytes: r.bytes,
        })
        .collect();
    state
        .avatars
        .install(user_id, processed.content_type, renditions)
        .await?
        .ok_or(InstallError::AccountGone)
}
