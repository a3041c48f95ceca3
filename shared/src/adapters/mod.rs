//! Adapters: the implementations of the ports.
//!
//! `embedded` needs nothing but the local disk; `aws` talks to DynamoDB, S3,
//! SQS and SES. `crate::state` picks one family from the configuration.
//! The embedded family is behind the `embedded` feature: Lambda builds leave
//! it (and SQLite) out; each AWS adapter is behind its service's feature.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod lazy;
