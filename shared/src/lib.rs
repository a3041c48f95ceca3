//! The shared crate: domain, tokens, passwords, ports and adapters used by
//! every Lambda function and by the local server.
//!
//! Start at [`state::AppState`] (what a handler gets), [`error::ApiError`]
//! (how it fails) and [`ports`] (what it stores things with).

pub mod accounts;
pub mod adapters;
pub mod auth;
pub mod avatars;
pub mod blob_keys;
pub mod config;
pub mod consumer;
pub mod domain;
pub mod error;
pub mod events;
#[cfg(feature = "dev")]
pub mod faults;
pub mod files;
pub mod http;
pub mod one_time;
pub mod outbox;
pub mod password;
pub mod ports;
pub mod posts;
pub mod profile_pdf;
pub mod rate_limit;
pub mod repo;
pub mod runtime;
pub mod secrets;
pub mod service_error;
pub mod sign_in;
pub mod state;
pub mod table_keys;
#[cfg(feature = "dev")]
pub mod testing;
pub mod tokens;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

/// Re-exported so function crates need not depend on these directly.
pub use lambda_http;
pub use serde_json;
