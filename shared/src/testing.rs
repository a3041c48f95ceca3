//! Throwaway configurations for tests, on either backend, so one test suite
//! runs against the embedded adapters and against the AWS adapters on moto.
//!
//! The AWS backend is used when `MOTO_ENDPOINT` is set (the test command
//! starts moto and sets it). Each call provisions fresh, uniquely named
//! resources, so tests never see each other's data.

use std::path::Path;

use crate::adapters::aws::{self, provision};
use crate::config::{Backend, Config};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Embedded,
    Aws,
}

/// The moto endpoint, if the test command started one.
pub fn moto_endpoint() -> Option<String> {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
}

/// The backend `TEST_BACKEND` asks for (default embedded). Asking for `aws`
/// without `MOTO_ENDPOINT` is an error, never a silent skip.
pub fn selected_backend() -> TestBackend {
    match std::env::var("TEST_BACKEND").as_deref() {
        Ok("aws") => {
            assert!(
                moto_endpoint().is_some(),
                "TEST_BACKEND=aws needs MOTO_ENDPOINT (run tests/run-all.sh)"
            );
            TestBackend::Aws
        }
        _ => TestBackend::Embedded,
    }
}

/// Whether contract tests must also run on moto: always under CI (missing
/// moto is then a failure), otherwise when `MOTO_ENDPOINT` is set.
pub fn aws_required() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !ci || moto_endpoint().is_some(),
        "CI runs need moto: MOTO_ENDPOINT is not set"
    );
    moto_endpoint().is_some()
}

/// A configuration for one test: embedded under `dir`, or AWS on moto with
/// freshly provisioned resources.
pub async fn config(backend: TestBackend, dir: &Path) -> Config {
    let mut config = Config::embedded(dir);
    if backend == TestBackend::Embedded {
        return config;
    }
    let endpoint = moto_endpoint().expect("MOTO_ENDPOINT");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let short = &id[..12];
    config.backend = Backend::Aws;
    config.aws_endpoint_url = Some(endpoint);
    config.table_name = format!("user-platform-{short}");
    config.bucket_name = format!("user-platform-files-{short}");
    config.jwt_private_key_pem = Some(crate::tokens::generate_private_key_pem());
    let resources = provision::Resources {
        table: config.table_name.clone(),
        bucket: config.bucket_name.clone(),
        queue: format!("user-events-{short}"),
        dead_letter_queue: format!("user-events-dlq-{short}"),
        mail_from: config.mail_from.clone(),
    };
    let sdk = aws::sdk_config(&config).await;
    let provisioned = provision::provision(&sdk, &resources, true)
        .await
        .expect("provision on moto");
    config.queue_url = Some(provisioned.queue_url);
    config.dead_letter_queue_url = Some(provisioned.dead_letter_url);
    config
}
