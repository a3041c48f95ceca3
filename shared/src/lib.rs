//! The core: the domain and its models, tokens and passwords, the ports,
//! the table and blob key layouts, the repositories and the services built
//! on them. Every function uses it; it uses no Lambda, HTTP framing, AWS SDK
//! or SQLite (those live in `edge`, `adapters-aws` and `adapters-embedded`
//! beside it; ARCHITECTURE.md).
//!
//! Start at [`state::AppState`] (what a handler gets) and [`ports`] (what
//! it stores things with).

pub mod accounts;
pub mod avatars;
pub mod blob_keys;
pub mod config;
pub mod domain;
pub mod events;
pub mod files;
pub mod idempotency;
pub mod one_time;
pub mod outbox;
pub mod password;
pub mod ports;
pub mod posts;
pub mod profile_pdf;
pub mod rate_limit;
pub mod repo;
pub mod secrets;
pub mod service_error;
pub mod state;
pub mod table_keys;
pub mod tokens;

pub use config::Config;
pub use state::AppState;

/// Re-exported so function crates need not depend on it directly.
pub use serde_json;
