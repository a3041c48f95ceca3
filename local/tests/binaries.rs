//! The binary mode's own behaviour (`--lambda`, or `TEST_FUNCTIONS=binaries`
//! in the test command): processes start on first use and stay warm, a busy
//! function scales out, REPORTs say what Lambda's say, and a process that
//! dies is replaced. Without the binaries these tests say SKIPPED.

mod common;

use std::sync::Arc;

use common::{PASSWORD, TestServer};
use local::gateway::Functions;
use local::lambda::Runner;

fn runner(s: &TestServer) -> Option<Arc<Runner>> {
    match &s.running.functions {
        Functions::Binaries(r) => Some(r.clone()),
        Functions::InProcess => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED binaries: set TEST_FUNCTIONS=binaries after `cargo build --workspace --bins`"
            );
            None
        }
    }
}

/// The names of the variables the first process of `function` was given.
fn environ_names(r: &Runner, function: &str) -> Vec<String> {
    let pid = reports_of(r, function)[0].pid.unwrap();
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    String::from_utf8_lossy(&raw)
        .split('\0')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_owned()))
        .collect()
}

fn reports_of(r: &Runner, function: &str) -> Vec<local::lambda::Report> {
    r.reports()
        .into_iter()
        .filter(|x| x.function == function)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn processes_start_once_stay_warm_and_report() {
    let s = TestServer::start().await;
    let Some(r) = runner(&s) else { return };
    for _ in 0..3 {
        assert_eq!(s.get("/health", None).await.status, 200);
    }
    let reports = reports_of(&r, "health");
    assert_eq!(reports.len(), 3);
    assert!(
        reports[0].init.is_some(),
        "the first invocation reports its init"
    );
    assert!(reports[1..].iter().all(|x| x.init.is_none()), "warm after");
    assert!(
        reports.iter().all(|x| x.pid == reports[0].pid),
        "one process"
    );
    assert!(
        reports
            .iter()
            .all(|x| x.max_memory_mb > 0 && !x.duration.is_zero())
    );
    assert_eq!(r.warm().get("health"), Some(&1));
    // Recycled (as Lambda recycles environments): the next one is cold.
    assert_eq!(r.recycle("health"), 1);
    assert_eq!(s.get("/health", None).await.status, 200);
    let last = reports_of(&r, "health").pop().unwrap();
    assert!(last.init.is_some() && last.pid != reports[0].pid);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_function_scales_out() {
    // Six logins at once from one client are more than the login limit
    // lets through; the limit is not what this test is about.
    let s = TestServer::start_with(|mut c| {
        c.login_max_failures_per_client = 100.into();
        c.login_max_failures_per_ip = 100.into();
        c
    })
    .await;
    let Some(r) = runner(&s) else { return };
    s.signup("busy@example.com").await;
    let logins = (0..6).map(|_| s.login("busy@example.com", PASSWORD));
    for a in futures::future::join_all(logins).await {
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let pids: std::collections::BTreeSet<_> =
        reports_of(&r, "login").iter().map(|x| x.pid).collect();
    assert!(
        pids.len() >= 2,
        "six at once need more than one process: {pids:?}"
    );
    assert!(r.warm()["login"] >= 2, "and they stay warm");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_that_dies_is_replaced() {
    let s = TestServer::start().await;
    let Some(r) = runner(&s) else { return };
    assert_eq!(s.get("/.well-known/jwks.json", None).await.status, 200);
    let pid = reports_of(&r, "jwks")[0].pid.unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The caller sees a cold start, not an error.
    assert_eq!(s.get("/.well-known/jwks.json", None).await.status, 200);
    let last = reports_of(&r, "jwks").pop().unwrap();
    assert!(last.init.is_some() && last.pid != Some(pid));
}

/// As deployed, only login and refresh hold the private key: every other
/// process gets the public keys alone, and still verifies every token.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_signing_functions_hold_the_private_key() {
    let s = TestServer::start_with(|mut c| {
        c.jwt_private_key_pem = Some(shared::tokens::generate_private_key_pem());
        c
    })
    .await;
    let Some(r) = runner(&s) else { return };
    let token = s.user_token("keys@example.com").await;
    // The authorizer and auth-me verify with public keys only.
    assert_eq!(s.get("/auth/me", Some(&token)).await.status, 200);
    let environ = |function: &str| environ_names(&r, function);
    assert!(environ("login").contains(&"JWT_PRIVATE_KEY".to_owned()));
    for function in ["signup", "authorizer", "auth-me"] {
        let vars = environ(function);
        assert!(!vars.contains(&"JWT_PRIVATE_KEY".to_owned()), "{function}");
        assert!(vars.contains(&"JWT_PUBLIC_JWKS".to_owned()), "{function}");
    }
}

/// Keys as deployed on AWS: the signers are told the secret's name (never
/// the key), read it from Secrets Manager at their cold start, and sign;
/// no other process is told even the name.
#[tokio::test(flavor = "multi_thread")]
async fn on_aws_the_signers_read_the_key_from_secrets_manager() {
    if !common::aws_required() {
        eprintln!(
            "SKIPPED binaries::on_aws_the_signers_read_the_key_from_secrets_manager: MOTO_ENDPOINT is unset"
        );
        return;
    }
    let s = TestServer::start_on(common::TestBackend::Aws).await;
    let Some(r) = runner(&s) else { return };
    assert!(s.config.jwt_private_key_pem.is_none());
    assert!(s.config.jwt_private_key_secret.is_some());
    let token = s.user_token("secret-keys@example.com").await;
    assert_eq!(s.get("/auth/me", Some(&token)).await.status, 200);
    let environ = |function: &str| environ_names(&r, function);
    let login = environ("login");
    assert!(login.contains(&"JWT_PRIVATE_KEY_SECRET".to_owned()));
    assert!(!login.contains(&"JWT_PRIVATE_KEY".to_owned()));
    for function in ["signup", "authorizer", "auth-me"] {
        let vars = environ(function);
        for key in ["JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_SECRET"] {
            assert!(!vars.contains(&key.to_owned()), "{function} has {key}");
        }
    }
}

/// A signing function whose secret cannot be read refuses its cold start
/// (Lambda reports the init error) with a log line naming the secret,
/// rather than starting without a key. The binary itself, on moto.
#[tokio::test(flavor = "multi_thread")]
async fn a_signer_without_its_secret_refuses_to_start() {
    if !edge::testing::binaries_selected() || !common::aws_required() {
        eprintln!(
            "SKIPPED binaries::a_signer_without_its_secret_refuses_to_start: needs TEST_FUNCTIONS=binaries and moto"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = edge::testing::config(common::TestBackend::Aws, dir.path()).await;
    let binary = common::binaries().unwrap().dir.join("login");
    for (secret, why) in [
        ("user-platform/missing-key", "does not exist"),
        (config.jwt_private_key_secret.as_deref().unwrap(), ""),
    ] {
        let mut env = config.clone();
        env.jwt_private_key_secret = Some(secret.to_owned());
        let out = tokio::process::Command::new(&binary)
            .env_clear()
            .envs(env.to_env())
            .envs(
                [
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN",
                    "AWS_REGION",
                ]
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "login")
            // No Runtime API: a process past its cold start fails to reach it.
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .output()
            .await
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{log}");
        if why.is_empty() {
            // The real secret: the cold start passed; the runtime then
            // failed to reach the (absent) Runtime API.
            assert!(!log.contains("cold start refused"), "{log}");
        } else {
            assert!(log.contains("cold start refused"), "{log}");
            assert!(log.contains(secret) && log.contains(why), "{log}");
        }
    }
}
