//! Test harness: a real local server on a free loopback port with its own
//! data folder, and a client that speaks to it over HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;

use edge::testing::RecordingMailer;
#[allow(unused_imports)]
pub use edge::testing::{TestBackend, aws_required, selected_backend};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shared::Config;
use std::sync::Arc;

/// With `TEST_FUNCTIONS=binaries` the test servers run every function's
/// binary as its own process (`--lambda`), from `TEST_LAMBDA_DIR` or the
/// debug build (`cargo build --workspace --bins`): the test command runs
/// the black-box suites over the binaries that way.
pub fn binaries() -> Option<local::Binaries> {
    if !edge::testing::binaries_selected() {
        return None;
    }
    let dir = std::env::var_os("TEST_LAMBDA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| local::lambda::target_dir("debug"));
    Some(local::Binaries { dir, quiet: true })
}

/// The API mapping every test server serves the API under as well.
pub const BASE_PATH: &str = "api/v1";

/// A password zxcvbn rates strong enough.
pub const PASSWORD: &str = "vivid tundra lantern 47";

pub struct TestServer {
    pub running: local::Running,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub config: Config,
    /// Whether the background jobs (consumer, relay) run.
    pub background: bool,
    /// Every mail the server sent (it still goes to the real mailer too).
    pub mails: Arc<RecordingMailer>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// Asserts a problem+json answer with this status; returns the problem.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("/problems/"))
        );
        &self.body
    }

    /// The `field`s named in a 422 answer.
    pub fn fields(&self) -> Vec<String> {
        self.problem(422);
        self.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl TestServer {
    /// A server on the backend `TEST_BACKEND` selects (embedded by default).
    pub async fn start() -> TestServer {
        Self::start_with(|c| c).await
    }

    pub async fn start_with(adjust: impl FnOnce(Config) -> Config) -> TestServer {
        Self::start_on_with(selected_backend(), adjust).await
    }

    pub async fn start_on(backend: TestBackend) -> TestServer {
        Self::start_on_with(backend, |c| c).await
    }

    pub async fn start_on_with(
        backend: TestBackend,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = adjust(edge::testing::config(backend, dir.path()).await);
        Self::serve(dir, config).await
    }

    async fn serve(dir: tempfile::TempDir, config: Config) -> TestServer {
        Self::serve_with(dir, config, true).await
    }

    /// A server without background jobs: the test drives the consumer and
    /// the relay itself.
    pub async fn start_quiet(backend: TestBackend) -> TestServer {
        Self::start_quiet_with(backend, |c| c).await
    }

    /// [`TestServer::start_quiet`] with an adjusted configuration.
    pub async fn start_quiet_with(
        backend: TestBackend,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = adjust(edge::testing::config(backend, dir.path()).await);
        Self::serve_with(dir, config, false).await
    }

    async fn serve_with(dir: tempfile::TempDir, config: Config, background: bool) -> TestServer {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut mails = None;
        // The assessment API's clients call under `/api/v1` (a custom
        // domain's API mapping on AWS): every test server serves it too.
        let base_paths = [local::BasePath::parse(BASE_PATH).unwrap()];
        let running = local::start_full(
            config.clone(),
            addr,
            background,
            &base_paths,
            binaries(),
            |state| {
                let recorder = RecordingMailer::new(state.mailer.clone());
                mails = Some(recorder.clone());
                state.with_mailer(recorder)
            },
        )
        .await
        .unwrap();
        TestServer {
            running,
            dir,
            client: reqwest::Client::new(),
            config,
            background,
            mails: mails.expect("the state was built"),
        }
    }

    /// The token of the newest mail to `to` whose subject contains
    /// `subject`, waiting for the consumer to send it (driving the queue
    /// itself when the server's background jobs are off).
    pub async fn mailed_token(&self, to: &str, subject: &str) -> String {
        for _ in 0..200 {
            let found = self
                .mails
                .to(to)
                .into_iter()
                .rev()
                .find(|m| m.subject.contains(subject))
                .and_then(|m| edge::testing::token_in(&m.text));
            if let Some(token) = found {
                return token;
            }
            if !self.background {
                let state = &self.running.state;
                let _ = local::ports::run_as("outbox-relay", outbox_relay::run(state)).await;
                local::consumer::deliver_once(
                    state,
                    local::routes::user_events_consumer(),
                    std::time::Duration::ZERO,
                )
                .await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no mail to {to} about {subject:?}: {:?}", self.mails.to(to));
    }

    /// The text of the newest mail to `to` whose subject contains
    /// `subject`, waiting for it.
    pub async fn mailed_text(&self, to: &str, subject: &str) -> String {
        for _ in 0..200 {
            if let Some(m) = self
                .mails
                .to(to)
                .into_iter()
                .rev()
                .find(|m| m.subject.contains(subject))
            {
                return m.text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no mail to {to} about {subject:?}: {:?}", self.mails.to(to));
    }

    /// Verifies `email`'s address through the newest mailed link not used
    /// yet (an address may come back after its account was deleted).
    pub async fn verify(&self, email: &str) {
        let used = self.mails.to(email).len();
        let mut token = self.mailed_token(email, "").await;
        for _ in 0..200 {
            let a = self
                .post(
                    "/auth/verify-email",
                    json!({ "token": token, "password": PASSWORD }),
                )
                .await;
            if a.status == 204 {
                return;
            }
            // An older account's link: wait for this one's.
            assert_eq!(a.status, 400, "{}", a.text);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if self.mails.to(email).len() > used {
                token = self.mailed_token(email, "").await;
            }
        }
        panic!("no usable verification link for {email}");
    }

    /// Signs up, verifies the address (an address in `ADMIN_EMAILS` becomes
    /// admin then), logs in; returns the access token.
    pub async fn admin_token(&self, email: &str) -> String {
        self.signup(email).await;
        self.verify(email).await;
        let a = self.login(email, PASSWORD).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Stops this server and starts another on the same data (same folder,
    /// or the same AWS resources), as a restart or a new cold start would.
    pub async fn restart(self) -> TestServer {
        self.restart_with(|c| c).await
    }

    /// A restart with changed configuration (a key rotation, say).
    pub async fn restart_with(self, adjust: impl FnOnce(Config) -> Config) -> TestServer {
        let TestServer {
            running,
            dir,
            config,
            background,
            ..
        } = self;
        let issuer = running.state.config.jwt_issuer.clone();
        drop(running);
        let mut config = config;
        config.jwt_issuer = issuer;
        Self::serve_with(dir, adjust(config), background).await
    }

    /// How many function processes are warm (0 unless the functions run as
    /// binaries): proof that a binary-mode run went through them.
    pub fn warm_processes(&self) -> usize {
        match &self.running.functions {
            local::gateway::Functions::Binaries(runner) => runner.warm().values().sum(),
            local::gateway::Functions::InProcess => 0,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let response = req.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// Any method, with a bearer token, optional JSON body and extra headers.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req).await
    }

    pub async fn signup(&self, email: &str) -> Value {
        let a = self
            .post(
                "/auth/signup",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.body
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Logs an existing account in; returns the access token.
    pub async fn user_token_of(&self, email: &str) -> String {
        let a = self.login(email, PASSWORD).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Signs up and logs in; returns the access token.
    pub async fn user_token(&self, email: &str) -> String {
        self.signup(email).await;
        let a = self.login(email, PASSWORD).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    /// The signing key (for crafting hostile tokens): configured, or the one
    /// generated under the data folder.
    pub fn private_key_pem(&self) -> String {
        match (
            &self.config.jwt_private_key_pem,
            &self.config.jwt_private_key_secret,
        ) {
            (Some(pem), _) => pem.clone(),
            (None, Some(secret)) => edge::testing::secret_pem(secret).expect("a test's secret"),
            (None, None) => {
                std::fs::read_to_string(self.dir.path().join("keys/jwt-ed25519.pem")).unwrap()
            }
        }
    }
}

/// A client whose requests come from `127.0.0.{n}` (API Gateway's
/// `sourceIp` is the peer address, as here).
#[allow(dead_code)] // (not every suite has clients at several addresses)
pub fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

/// A second server over `base`'s data whose ports count (and, when armed,
/// fail) their calls: `AppState::with_faults`.
#[allow(dead_code)]
pub fn serve_faulty(base: &TestServer) -> (local::Running, Arc<edge::faults::Faults>) {
    let faults = edge::faults::Faults::new();
    let state = edge::wiring::with_faults(&base.running.state, &faults);
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    (local::serve(state, listener, false), faults)
}

/// A state (no server) on `backend`, for port contract tests.
pub async fn state(backend: TestBackend) -> (tempfile::TempDir, std::sync::Arc<shared::AppState>) {
    let dir = tempfile::tempdir().unwrap();
    let config = edge::testing::config(backend, dir.path()).await;
    let state = edge::wiring::build(config).await.unwrap();
    (dir, state)
}

/// Runs each named `async fn case(backend)` on the embedded adapters and on
/// the AWS adapters (moto). Outside CI without moto the AWS half prints a
/// `SKIPPED` line to the terminal (not captured) and does nothing; under
/// CI, missing moto fails the run.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => { $(
        mod $case {
            #[tokio::test(flavor = "multi_thread")]
            async fn embedded() {
                super::$case(super::common::TestBackend::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn aws() {
                if super::common::aws_required() {
                    super::$case(super::common::TestBackend::Aws).await
                } else {
                    // Straight to the process's stderr, past the harness's
                    // capture: a skipped half must not pass silently.
                    use std::io::Write as _;
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED {}::{}::aws: MOTO_ENDPOINT is unset (tests/run-all.sh starts moto)",
                        module_path!().split("::").next().unwrap_or_default(),
                        stringify!($case)
                    );
                }
            }
        }
    )* };
}
