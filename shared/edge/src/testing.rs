//! Throwaway configurations for tests, on either backend, so one test suite
//! runs against the embedded adapters and against the AWS adapters on moto.
//!
//! The AWS backend is used when `MOTO_ENDPOINT` is set (the test command
//! starts moto and sets it). Each call creates a CloudFormation stack of the
//! template's data resources ([`stacks`]) and runs on what its outputs name,
//! so tests never see each other's data and every suite on moto runs on a
//! table, bucket and queues made from the template itself.

use std::path::Path;

use adapters_aws::{self as aws, stacks};
use shared::config::{Backend, Config};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Embedded,
    Aws,
}

/// The origin of a front end developed locally (the template's `AppOrigin`
/// in samconfig.toml's dev environment): what test stacks are created with.
pub const DEV_APP_ORIGIN: &str = "http://localhost:5173";

/// The moto endpoint, if the test command started one.
pub fn moto_endpoint() -> Option<String> {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
}

/// The backend `TEST_BACKEND` asks for: `embedded` (also when unset or
/// blank) or `aws`. Anything else is an error, so a misspelt `AWS` or
/// `moto` cannot quietly run the embedded pass twice; so is `aws` without
/// `MOTO_ENDPOINT`.
pub fn selected_backend() -> TestBackend {
    let backend = parse_backend(std::env::var("TEST_BACKEND").ok().as_deref())
        .unwrap_or_else(|e| panic!("{e}"));
    if backend == TestBackend::Aws {
        assert!(
            moto_endpoint().is_some(),
            "TEST_BACKEND=aws needs MOTO_ENDPOINT (run tests/run-all.sh)"
        );
    }
    backend
}

/// `TEST_BACKEND`'s value as a backend.
pub fn parse_backend(value: Option<&str>) -> Result<TestBackend, String> {
    match value.map(str::trim) {
        None | Some("") | Some("embedded") => Ok(TestBackend::Embedded),
        Some("aws") => Ok(TestBackend::Aws),
        Some(other) => Err(format!(
            "TEST_BACKEND must be \"embedded\" or \"aws\" (got {other:?})"
        )),
    }
}

/// Whether `TEST_FUNCTIONS` asks for the function binaries (`binaries`)
/// rather than the handlers in this process (`in-process`, also when unset
/// or blank); anything else is an error.
pub fn parse_functions(value: Option<&str>) -> Result<bool, String> {
    match value.map(str::trim) {
        None | Some("") | Some("in-process") => Ok(false),
        Some("binaries") => Ok(true),
        Some(other) => Err(format!(
            "TEST_FUNCTIONS must be \"in-process\" or \"binaries\" (got {other:?})"
        )),
    }
}

/// `TEST_FUNCTIONS=binaries`, read once per test.
pub fn binaries_selected() -> bool {
    parse_functions(std::env::var("TEST_FUNCTIONS").ok().as_deref())
        .unwrap_or_else(|e| panic!("{e}"))
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

/// A configuration for one test: embedded under `dir`, or AWS on moto on a
/// stack of its own, with the signing key in Secrets Manager.
pub async fn config(backend: TestBackend, dir: &Path) -> Config {
    let mut config = Config::embedded(dir);
    // Every test client is 127.0.0.1: suites sign up far more accounts and
    // ask for more resets than one address may in an hour. The suites that
    // test these limits set their own.
    config.signups_per_ip_per_hour = 1_000_000.into();
    config.resets_per_ip_per_hour = 1_000_000.into();
    if backend == TestBackend::Embedded {
        return config;
    }
    let endpoint = moto_endpoint().expect("MOTO_ENDPOINT");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let short = &id[..12];
    config.backend = Backend::Aws;
    config.aws_endpoint_url = Some(endpoint);
    let sdk = aws::sdk_config(&config).await;
    // The signing key's secret is named as a deployment names it: a stack
    // parameter (the IAM check finds the stack of a secret read by it).
    let secret = format!("test-{short}/jwt-private-key");
    let stack = stacks::create_data_stack(
        &sdk,
        &format!("test-{short}"),
        &[
            ("FilesBucketPrefix", &format!("files-{short}")),
            ("AppOrigin", DEV_APP_ORIGIN),
            ("JwtPrivateKeySecret", &secret),
        ],
    )
    .await
    .expect("a test stack on moto");
    config.table_name = stack.table;
    config.bucket_name = stack.bucket;
    config.queue_url = Some(stack.queue_url);
    config.dead_letter_queue_url = Some(stack.dead_letter_url);
    stacks::verify_sender(&sdk, &config.mail_from)
        .await
        .expect("verify the sender on moto");
    // The signing key as on AWS: in Secrets Manager, read when the state is
    // built (every function process that signs reads it at its cold start).
    // Its public half is what every other function gets.
    let pem = shared::tokens::generate_private_key_pem();
    let arn = stacks::put_secret(&sdk, &secret, &pem)
        .await
        .expect("the signing key in moto's Secrets Manager");
    SECRETS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(arn.clone(), pem);
    config.jwt_private_key_secret = Some(arn);
    config
}

/// The keys [`config`] put in Secrets Manager, by secret ARN.
static SECRETS: std::sync::Mutex<std::collections::BTreeMap<String, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The signing key a test configuration's secret holds (tests craft hostile
/// tokens with it).
pub fn secret_pem(secret: &str) -> Option<String> {
    SECRETS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(secret)
        .cloned()
}

/// A mailer that keeps a copy of every mail it sends (through the wrapped
/// mailer), so tests read the links that were mailed on either backend.
pub struct RecordingMailer {
    inner: std::sync::Arc<dyn shared::ports::Mailer>,
    pub sent: std::sync::Mutex<Vec<shared::ports::Mail>>,
}

impl RecordingMailer {
    pub fn new(inner: std::sync::Arc<dyn shared::ports::Mailer>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(RecordingMailer {
            inner,
            sent: std::sync::Mutex::default(),
        })
    }

    /// The mails sent to `to` so far, oldest first.
    pub fn to(&self, to: &str) -> Vec<shared::ports::Mail> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }
}

#[async_trait::async_trait]
impl shared::ports::Mailer for RecordingMailer {
    async fn send(&self, mail: &shared::ports::Mail) -> Result<String, shared::ports::MailError> {
        let id = self.inner.send(mail).await?;
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(mail.clone());
        Ok(id)
    }
}

/// The one-time token in a mailed link (`…#token=…`).
pub fn token_in(text: &str) -> Option<String> {
    let start = text.find("token=")? + "token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (token.len() == 43).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_test_backends_and_function_modes() {
        assert_eq!(parse_backend(None), Ok(TestBackend::Embedded));
        assert_eq!(parse_backend(Some(" ")), Ok(TestBackend::Embedded));
        assert_eq!(parse_backend(Some("embedded")), Ok(TestBackend::Embedded));
        assert_eq!(parse_backend(Some("aws")), Ok(TestBackend::Aws));
        for bad in ["AWS", "moto", "dynamodb", "1"] {
            let e = parse_backend(Some(bad)).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert_eq!(parse_functions(None), Ok(false));
        assert_eq!(parse_functions(Some("in-process")), Ok(false));
        assert_eq!(parse_functions(Some("binaries")), Ok(true));
        for bad in ["binary", "1", "BINARIES"] {
            let e = parse_functions(Some(bad)).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
