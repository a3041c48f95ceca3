//! The edge: what stands between Lambda (or the local server) and the core.
//! The runtime loop and the wiring that picks adapters ([`runtime`],
//! [`wiring`]), reading requests and writing answers ([`http`]), the one
//! mapping of every error to a problem answer ([`error::ApiError`]), the
//! caller from the authorizer's context ([`auth`], [`http::Caller`]), the
//! sign-in answer, and the SQS batch loop ([`consumer`]). Function crates
//! use it with the core (`shared`); the core never uses it.

pub mod auth;
pub mod consumer;
pub mod error;
#[cfg(feature = "dev")]
pub mod faults;
pub mod http;
pub mod idempotency;
pub mod runtime;
pub mod sign_in;
#[cfg(feature = "dev")]
pub mod testing;
pub mod wiring;

pub use error::ApiError;

/// Re-exported so function crates need not depend on it directly.
pub use lambda_http;
