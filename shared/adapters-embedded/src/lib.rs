//! Embedded adapters: everything under one data folder, shared safely by
//! several processes (SQLite in WAL mode with a busy timeout; blobs and
//! mails written to a temporary name and renamed into place).

mod fs_blobs;
mod mail_dir;
pub mod ports;
mod sqlite;
mod sqlite_queue;
mod sqlite_store;

pub use fs_blobs::{BlobGrant, BlobUrlError, FsBlobs};
pub use mail_dir::MailDir;
pub use sqlite_queue::SqliteQueue;
pub use sqlite_store::SqliteStore;

pub use shared::files::{load_or_create_secret, now_secs, write_private_file};
