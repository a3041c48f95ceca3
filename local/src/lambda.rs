//! The binary mode (`cargo run -p local -- --lambda`): what `sam local
//! start-api` does, without Docker. Each function's `bootstrap` binary — the
//! artifact `sam build` deploys — runs as its own process, talking to a
//! Lambda Runtime API emulator, with the configuration the in-process server
//! has ([`shared::Config::to_env`]). A process starts on its function's first
//! request and stays warm; a request that finds every process of its
//! function busy starts another, as Lambda scales out. Each invocation
//! prints Lambda's `REPORT` line.
//!
//! The gateway hands these processes the same events it hands the in-process
//! handlers, authorizer included, and turns their answers back into HTTP.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::{mpsc, oneshot};

/// Lambda's limit on a function's init phase.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest an invocation may run (the template's functions allow 10 s;
/// the margin absorbs debug builds and a busy test machine).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The memory size REPORT lines state (the template's `MemorySize`).
const MEMORY_MB: u64 = 128;

/// Why an invocation gave no answer: API Gateway's 500 for the caller.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("{binary} is missing: {hint}")]
    Missing { binary: PathBuf, hint: String },
    #[error("{0} could not start: {1}")]
    Spawn(String, String),
    #[error("{0} failed its init phase")]
    Init(String),
    #[error("{0} timed out")]
    Timeout(String),
    #[error("{0} reported an error: {1}")]
    Function(String, String),
    #[error("{0} exited during the invocation")]
    Crashed(String),
}

/// Where an invocation's answer goes: the response, or the reported error.
type Reply = oneshot::Sender<Result<Bytes, String>>;

/// One event for one process, and where its answer goes.
struct Invocation {
    id: String,
    event: String,
    reply: Reply,
}

/// Called with a process's id at its first poll of the Runtime API, while
/// the process waits for the answer: the cold-start benchmark reads the
/// kernel's accounting of the process at the end of its init here.
pub type FirstPollHook = Arc<dyn Fn(u32) + Send + Sync>;

/// The Runtime API of one process.
#[derive(Clone)]
struct RuntimeApi {
    function: String,
    next: Arc<tokio::sync::Mutex<mpsc::Receiver<Invocation>>>,
    /// The invocation the process is working on: its id and reply.
    current: Arc<Mutex<Option<(String, Reply)>>>,
    /// When the first poll came (the end of the init phase).
    first_poll: Arc<Mutex<Option<oneshot::Sender<Instant>>>>,
    init_error: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    /// The process's id, once spawned.
    pid: Arc<AtomicU32>,
    hook: Option<FirstPollHook>,
}

async fn next(State(api): State<RuntimeApi>) -> axum::response::Response {
    if let Some(ready) = api.first_poll.lock().expect("not poisoned").take() {
        let polled = Instant::now();
        if let Some(hook) = &api.hook {
            hook(api.pid.load(Ordering::SeqCst));
        }
        let _ = ready.send(polled);
    }
    let Some(invocation) = api.next.lock().await.recv().await else {
        // The pool dropped this process; it is about to be killed.
        return StatusCode::GONE.into_response();
    };
    let deadline = time::OffsetDateTime::now_utc() + INVOKE_TIMEOUT;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", invocation.id.clone());
    set(
        "lambda-runtime-deadline-ms",
        (deadline.unix_timestamp_nanos() / 1_000_000).to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:local:000000000000:function:{}",
            api.function
        ),
    );
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{}",
            deadline.unix_timestamp(),
            &invocation.id.replace('-', "")[..24]
        ),
    );
    set("content-type", "application/json".into());
    *api.current.lock().expect("not poisoned") = Some((invocation.id, invocation.reply));
    (headers, invocation.event).into_response()
}

fn finish(api: &RuntimeApi, id: &str, outcome: Result<Bytes, String>) -> StatusCode {
    let mut current = api.current.lock().expect("not poisoned");
    match current.take() {
        Some((expected, reply)) if expected == id => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        other => {
            *current = other;
            StatusCode::BAD_REQUEST
        }
    }
}

/// Lambda's limit on a synchronous invocation's response.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

async fn response(
    State(api): State<RuntimeApi>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> StatusCode {
    if body.len() > MAX_RESPONSE_BYTES {
        // As on Lambda: the invocation fails, the runtime is told why.
        finish(
            &api,
            &id,
            Err(format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                body.len()
            )),
        );
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    finish(&api, &id, Ok(body))
}

async fn error(
    State(api): State<RuntimeApi>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&api, &id, Err(String::from_utf8_lossy(&body).into_owned()))
}

async fn init_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    tracing::error!(function = %api.function, error = %String::from_utf8_lossy(&body), "init error");
    if let Some(failed) = api.init_error.lock().expect("not poisoned").take() {
        let _ = failed.send(());
    }
    StatusCode::ACCEPTED
}

/// One warm process and its Runtime API.
struct Worker {
    child: tokio::process::Child,
    invocations: mpsc::Sender<Invocation>,
    server: tokio::task::JoinHandle<()>,
    /// Reported on the process's first invocation, as Lambda does.
    init: Option<Duration>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}

/// What a REPORT line says of one invocation.
#[derive(Debug, Clone)]
pub struct Report {
    pub function: String,
    pub request_id: String,
    pub duration: Duration,
    /// The process's peak RSS so far, as the REPORT line states it (MB,
    /// rounded up) and in KiB.
    pub max_memory_mb: u64,
    pub max_memory_kib: u64,
    /// On a process's first invocation only.
    pub init: Option<Duration>,
    /// The process that served it.
    pub pid: Option<u32>,
}

/// The REPORTs kept for inspection (the newest; all are logged).
const REPORTS_KEPT: usize = 1000;

/// The functions that sign tokens: the only ones given the private key, here
/// as in `template.yaml` (a test checks they agree). Every other process gets
/// the public keys alone (`JWT_PUBLIC_JWKS`), so binary mode runs them as
/// verify-only, as deployed.
pub const SIGNERS: &[&str] = &["login", "refresh"];

/// The variables that lead to the signing key (the key itself, or the
/// secret that holds it): only the [`SIGNERS`] get them.
pub const SIGNING_KEY: &[&str] = &["JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_SECRET"];

/// The variables that pass from this process to the function processes
/// as they are: AWS credentials and region, the log filter, the IAM test's
/// call log.
const PASSED_THROUGH: &[&str] = &[
    // The IAM test's record of AWS calls (builds with `call-log` only).
    "AWS_CALL_LOG",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "RUST_LOG",
];

/// The environment a deployed function gets for `config`, as
/// `template.yaml` gives it: the configuration's variables, the keys that
/// verify (`JWT_PUBLIC_JWKS`, from `state`), the signing key for the
/// [`SIGNERS`] only (the [`Runner`] holds it back from the others), and the
/// [`PASSED_THROUGH`] variables of this process. The binary mode and the
/// cold-start benchmark run the binaries with it.
pub fn function_env(
    config: &shared::Config,
    state: &shared::AppState,
) -> std::io::Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = config
        .to_env()
        .into_iter()
        .filter(|(k, _)| k != "JWT_PUBLIC_JWKS")
        .collect();
    // The keys that verify, for the processes that do not sign; the
    // signing key (the data folder's, when none is configured) for the ones
    // that do — the runner gives it to them alone.
    env.push((
        "JWT_PUBLIC_JWKS".into(),
        serde_json::to_string(state.tokens.jwks())?,
    ));
    // (A configured secret is passed on as it is: the signers read it at
    // their cold start, as deployed.)
    if config.jwt_private_key_pem.is_none() && config.jwt_private_key_secret.is_none() {
        let pem = std::fs::read_to_string(shared::tokens::local_key_path(config))?;
        env.push(("JWT_PRIVATE_KEY".into(), pem));
    }
    // Where clients reach the API (the embedded store's presigned links
    // point there), whether configured or learnt on binding.
    if !config.public_base_url_set {
        env.push(("PUBLIC_BASE_URL".into(), config.public_base_url.clone()));
    }
    for name in PASSED_THROUGH {
        if let Ok(v) = std::env::var(name) {
            env.push(((*name).to_owned(), v));
        }
    }
    Ok(env)
}

/// Where the binaries are and what they run with.
pub struct Runner {
    dir: PathBuf,
    env: Vec<(String, String)>,
    quiet: bool,
    idle: Mutex<HashMap<String, Vec<Worker>>>,
    reports: Mutex<std::collections::VecDeque<Report>>,
    hook: Option<FirstPollHook>,
}

impl Runner {
    /// Binaries from `dir` (`target/release`, say), each process given `env`
    /// (and the Lambda variables) — without the [`SIGNING_KEY`] variables
    /// unless it is one of the [`SIGNERS`]. `quiet` sends the processes' own output
    /// nowhere rather than to this terminal; REPORT lines are logged anyway.
    pub fn new(dir: PathBuf, env: Vec<(String, String)>, quiet: bool) -> Self {
        Self {
            dir,
            env,
            quiet,
            idle: Mutex::new(HashMap::new()),
            reports: Mutex::default(),
            hook: None,
        }
    }

    /// Calls `hook` with each new process's id at its first poll, before
    /// the process gets its first invocation (the cold-start benchmark).
    pub fn on_first_poll(mut self, hook: FirstPollHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The binary of a function (the template's `BuildProperties.Binary`).
    pub fn binary(&self, function: &str) -> PathBuf {
        self.dir.join(function)
    }

    async fn spawn(&self, function: &str) -> Result<Worker, InvokeError> {
        let binary = self.binary(function);
        if !binary.exists() {
            return Err(InvokeError::Missing {
                binary,
                hint: "build the functions first (`cargo build --release --bins --workspace --exclude bench --exclude local --features edge/embedded`), or pass --lambda-dir".into(),
            });
        }
        let (tx, rx) = mpsc::channel(1);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (failed_tx, failed_rx) = oneshot::channel();
        let pid = Arc::new(AtomicU32::new(0));
        let api = RuntimeApi {
            function: function.to_owned(),
            next: Arc::new(tokio::sync::Mutex::new(rx)),
            current: Arc::default(),
            first_poll: Arc::new(Mutex::new(Some(ready_tx))),
            init_error: Arc::new(Mutex::new(Some(failed_tx))),
            pid: pid.clone(),
            hook: self.hook.clone(),
        };
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| InvokeError::Spawn(function.into(), e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| InvokeError::Spawn(function.into(), e.to_string()))?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let started = Instant::now();
        let (stdout, stderr) = if self.quiet {
            (Stdio::null(), Stdio::null())
        } else {
            (Stdio::inherit(), Stdio::inherit())
        };
        let child = tokio::process::Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(
                self.env
                    .iter()
                    .filter(|(k, _)| {
                        !SIGNING_KEY.contains(&k.as_str()) || SIGNERS.contains(&function)
                    })
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(c) => {
                pid.store(c.id().unwrap_or(0), Ordering::SeqCst);
                c
            }
            Err(e) => {
                server.abort();
                return Err(InvokeError::Spawn(function.into(), e.to_string()));
            }
        };
        let worker = Worker {
            child,
            invocations: tx,
            server,
            init: None,
        };
        let mut worker = worker;
        tokio::select! {
            ready = tokio::time::timeout(INIT_TIMEOUT, ready_rx) => match ready {
                Ok(Ok(polled)) => {
                    worker.init = Some(polled - started);
                    Ok(worker)
                }
                _ => Err(InvokeError::Init(function.into())),
            },
            _ = failed_rx => Err(InvokeError::Init(function.into())),
        }
    }

    /// Runs `event` through a process of `function` and returns its answer.
    pub async fn invoke(&self, function: &str, event: String) -> Result<Bytes, InvokeError> {
        self.invoke_reported(function, event)
            .await
            .map(|(answer, _)| answer)
    }

    /// [`Runner::invoke`], with the invocation's REPORT.
    pub async fn invoke_reported(
        &self,
        function: &str,
        event: String,
    ) -> Result<(Bytes, Report), InvokeError> {
        // A process that died while idle is replaced, as Lambda replaces an
        // environment: the caller only sees a cold start.
        let warm = {
            let mut idle = self.idle.lock().expect("not poisoned");
            let pool = idle.entry(function.to_owned()).or_default();
            std::iter::from_fn(|| pool.pop()).find_map(|mut w| match w.child.try_wait() {
                Ok(None) => Some(w),
                _ => None,
            })
        };
        let mut worker = match warm {
            Some(w) => w,
            None => self.spawn(function).await?,
        };
        let id = uuid::Uuid::new_v4().to_string();
        let (reply, answer) = oneshot::channel();
        let start = Instant::now();
        let sent = worker
            .invocations
            .send(Invocation {
                id: id.clone(),
                event,
                reply,
            })
            .await;
        if sent.is_err() {
            return Err(InvokeError::Crashed(function.into()));
        }
        let outcome = tokio::select! {
            answer = tokio::time::timeout(INVOKE_TIMEOUT, answer) => match answer {
                Ok(Ok(result)) => Some(result),
                Ok(Err(_)) => None,
                Err(_) => return Err(InvokeError::Timeout(function.into())),
            },
            _ = worker.child.wait() => None,
        };
        let duration = start.elapsed();
        let pid = worker.child.id();
        let kib = pid.and_then(peak_rss_kib).unwrap_or(0);
        let report = Report {
            function: function.to_owned(),
            request_id: id,
            duration,
            max_memory_mb: kib.div_ceil(1024),
            max_memory_kib: kib,
            init: worker.init.take(),
            pid,
        };
        log_report(&report);
        {
            let mut reports = self.reports.lock().expect("not poisoned");
            if reports.len() == REPORTS_KEPT {
                reports.pop_front();
            }
            reports.push_back(report.clone());
        }
        let Some(answer) = outcome else {
            return Err(InvokeError::Crashed(function.into()));
        };
        // Warm again, after an answer or a reported error alike (an error
        // leaves the process usable, as on Lambda).
        self.idle
            .lock()
            .expect("not poisoned")
            .entry(function.to_owned())
            .or_default()
            .push(worker);
        answer
            .map(|a| (a, report))
            .map_err(|e| InvokeError::Function(function.into(), e))
    }

    /// The newest invocations' REPORTs, oldest first.
    pub fn reports(&self) -> Vec<Report> {
        self.reports
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Stops every warm process of `function` (as Lambda recycles
    /// environments); the next request starts a new one.
    pub fn recycle(&self, function: &str) -> usize {
        self.idle
            .lock()
            .expect("not poisoned")
            .remove(function)
            .map_or(0, |w| w.len())
    }

    /// Stops every warm process of `function` and waits until each has
    /// exited, so the next start does not overlap their exit (the
    /// cold-start benchmark); returns how many there were.
    pub async fn stop(&self, function: &str) -> usize {
        let workers = self
            .idle
            .lock()
            .expect("not poisoned")
            .remove(function)
            .unwrap_or_default();
        let n = workers.len();
        for mut worker in workers {
            let _ = worker.child.kill().await;
        }
        n
    }

    /// How many warm processes each function has now.
    pub fn warm(&self) -> HashMap<String, usize> {
        self.idle
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }
}

/// Lambda's REPORT line for one invocation.
fn log_report(r: &Report) {
    let ms = r.duration.as_secs_f64() * 1e3;
    let init = r
        .init
        .map(|d| format!("\tInit Duration: {:.2} ms", d.as_secs_f64() * 1e3))
        .unwrap_or_default();
    tracing::info!(
        target: "lambda",
        "REPORT RequestId: {}\tFunction: {}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {MEMORY_MB} MB\tMax Memory Used: {} MB{init}",
        r.request_id,
        r.function,
        ms.ceil() as u64,
        r.max_memory_mb,
    );
}

/// A process's peak resident set (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The workspace's target folder for `profile` (`release`, `debug`).
pub fn target_dir(profile: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join(profile)
}

/// Builds every function binary with cargo (`release` or `dev` profile).
pub fn build(profile: &str) -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cargo =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(&root).args([
        "build",
        "--bins",
        "--workspace",
        "--exclude",
        "bench",
        "--exclude",
        "local",
        // Lambda builds leave the embedded adapters out; these binaries run
        // on the local store too.
        "--features",
        "edge/embedded",
    ]);
    if profile == "release" {
        cargo.arg("--release");
    }
    let status = cargo.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "cargo build failed: {status}"
        )))
    }
}
