//! Adapters: the implementations of the ports.
//!
//! `embedded` needs nothing but the local disk; `aws` talks to DynamoDB, S3,
//! SQS and SES. `crate::state` picks one family from the configuration.

pub mod aws;
pub mod embedded;
