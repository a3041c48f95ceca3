//! AWS adapters: DynamoDB, S3, SQS and SES v2 behind the same ports as the
//! embedded adapters, each behind the cargo feature of its service
//! (`dynamodb`, `s3`, `sqs`, `ses`). A function names the services it
//! reaches as this crate's features in its Cargo.toml and links no other
//! SDK client; [`ports`] builds its ports, a port whose service is not
//! linked refusing every call. SDK clients are built once per process from
//! one `SdkConfig` and shared by every invocation.

/// A client of an SDK crate over the shared configuration, with the call
/// recorder attached in builds that have one (`call-log`, tests only) and
/// `AWS_CALL_LOG` set. `client!(aws_sdk_s3, sdk, |b| b.force_path_style(true))`
/// adjusts the service's configuration first.
#[cfg(feature = "aws")]
macro_rules! client {
    ($krate:ident, $sdk:expr) => {
        $crate::client!($krate, $sdk, |b| b)
    };
    ($krate:ident, $sdk:expr, $adjust:expr) => {{
        let builder = $krate::config::Builder::from($sdk);
        #[cfg(feature = "call-log")]
        let builder = match $crate::call_log::Recorder::from_env() {
            Some(recorder) => builder.interceptor(recorder),
            None => builder,
        };
        #[allow(clippy::redundant_closure_call)]
        let builder = ($adjust)(builder);
        $krate::Client::from_conf(builder.build())
    }};
}
#[cfg(feature = "aws")]
pub(crate) use client;

#[cfg(feature = "call-log")]
pub mod call_log;
#[cfg(feature = "dynamodb")]
mod dynamo_store;
#[cfg(feature = "s3")]
mod s3_blobs;
#[cfg(feature = "secrets")]
mod secrets_manager;
#[cfg(feature = "ses")]
mod ses_mailer;
#[cfg(feature = "sqs")]
mod sqs_queue;
#[cfg(feature = "dev")]
pub mod stacks;

#[cfg(feature = "dynamodb")]
pub use dynamo_store::{DynamoStore, GSI1};
#[cfg(feature = "s3")]
pub use s3_blobs::S3Blobs;
#[cfg(feature = "secrets")]
pub use secrets_manager::read_secret_string;
#[cfg(feature = "ses")]
pub use ses_mailer::SesMailer;
#[cfg(feature = "sqs")]
pub use sqs_queue::SqsQueue;

pub mod ports;
#[cfg(feature = "aws")]
pub use base::{classify, sdk_config};

/// What every service's adapter shares: the SDK configuration and how its
/// errors read. Only in builds with at least one service.
#[cfg(feature = "aws")]
mod base {
    use std::time::Duration;

    use aws_config::identity::IdentityCache;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_async::rt::sleep::TokioSleep;
    use aws_smithy_async::time::SystemTimeSource;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    use shared::config::Config;

    /// Builds the shared SDK configuration: credentials and region from the
    /// environment, `AWS_ENDPOINT_URL` for emulators, standard retries (3
    /// attempts with backoff) and timeouts short enough for a Lambda with a 10 s
    /// budget.
    ///
    /// Credentials and region come from the environment only (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`), which is where Lambda puts the function's role
    /// credentials and region, and where the local server, the tests and moto
    /// get theirs. aws-config's default chains (profile files, SSO, web
    /// identity and assume-role through STS, ECS, EC2 instance metadata) are not
    /// used, so not linked: every function with an AWS client shipped
    /// ~0.6 MB of them on arm64 (issue 15's size target; BENCHMARKS.md), and
    /// loading them read profile files at each cold start. To run against AWS
    /// from a workstation, export a profile's credentials first
    /// (`aws configure export-credentials --format env`).
    ///
    /// Against an emulator (`AWS_ENDPOINT_URL`) an attempt may take longer: moto
    /// answers one request at a time and does not honour the idempotency token
    /// the SDK puts on `TransactWriteItems`, so a timed-out attempt that was in
    /// fact applied would be retried and fail its own conditions. DynamoDB
    /// itself returns the first outcome to such a retry.
    pub async fn sdk_config(config: &Config) -> SdkConfig {
        use aws_config::environment::{
            EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
        };
        use aws_config::meta::region::ProvideRegion;

        let (attempt, operation) = match config.aws_endpoint_url {
            Some(_) => (Duration::from_secs(30), Duration::from_secs(60)),
            None => (Duration::from_secs(3), Duration::from_secs(8)),
        };
        // Emulators accept any region; on Lambda AWS_REGION is always set.
        let region = EnvironmentVariableRegionProvider::new()
            .region()
            .await
            .unwrap_or_else(|| Region::new("us-east-1"));
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ))
            .identity_cache(IdentityCache::lazy().build())
            .sleep_impl(TokioSleep::new())
            .time_source(SystemTimeSource::new())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(attempt)
                    .operation_timeout(operation)
                    .build(),
            );
        builder.set_endpoint_url(config.aws_endpoint_url.clone());
        builder.build()
    }

    /// Whether an SDK error is worth a "try again" (throttling, timeouts, the
    /// service or the network down) rather than a bug, and a loggable description.
    pub fn classify<E, R>(e: &SdkError<E, R>) -> (bool, String)
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let transient = match e {
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(_) => matches!(
                e.code(),
                Some(
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "ServiceUnavailable"
                        | "InternalServerError"
                        | "InternalError"
                        | "SlowDown"
                )
            ),
            _ => false,
        };
        let code = e.code().unwrap_or("unknown");
        let message = e.message().unwrap_or_default();
        let detail = match e {
            SdkError::ServiceError(_) => String::new(),
            other => format!(" ({other})"),
        };
        (transient, format!("{code}: {message}{detail}"))
    }
}
