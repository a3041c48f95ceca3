//! What a timing tells about an address, on the embedded store and (with
//! `MOTO_ENDPOINT` set: bench/run.sh starts moto) on DynamoDB's protocol:
//! - login with a wrong password for an address with an account vs. one
//!   without (the same two store reads either way);
//! - sign-up with `SIGNUP_CONCEALS_EXISTING=true` for a free address vs. a
//!   taken one (the same answer; the same hash and create transaction, and
//!   for the taken one the owner's notice: one more write).
//!
//! Measured in-process through the handlers, interleaved to share the
//! noise. `cargo run --release -p bench --bin signup-timing`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const ROUNDS: usize = 30;
const PASSWORD: &str = "vivid tundra lantern 47";

async fn state(on_moto: bool, dir: &std::path::Path) -> Arc<shared::AppState> {
    let mut config = if on_moto {
        edge::testing::config(edge::testing::TestBackend::Aws, dir).await
    } else {
        shared::Config::embedded(dir)
    };
    bench::lift_limits(&mut config);
    config.signup_conceals_existing = true.into();
    edge::wiring::build(config).await.unwrap()
}

fn text(response: &lambda_http::Response<lambda_http::Body>) -> String {
    match response.body() {
        lambda_http::Body::Text(t) => t.clone(),
        _ => String::new(),
    }
}

/// Interleaves two cases `ROUNDS` times (after 3 warm-up rounds); returns
/// their samples. Each case asserts its own answer.
async fn interleave<F, G, FF, GG>(mut a: F, mut b: G) -> [Vec<Duration>; 2]
where
    F: FnMut(usize) -> FF,
    G: FnMut(usize) -> GG,
    FF: std::future::Future<Output = ()>,
    GG: std::future::Future<Output = ()>,
{
    let mut samples = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS + 3 {
        let start = Instant::now();
        a(round).await;
        let took_a = start.elapsed();
        let start = Instant::now();
        b(round).await;
        let took_b = start.elapsed();
        if round >= 3 {
            samples[0].push(took_a);
            samples[1].push(took_b);
        }
    }
    samples
}

async fn backend(on_moto: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let state = state(on_moto, dir.path()).await;
    let name = if on_moto {
        "moto (DynamoDB's protocol)"
    } else {
        "embedded (SQLite)"
    };
    // The taken address, verified (concealing sign-up lets only verified
    // accounts sign in; not needed for a wrong password, but realistic).
    let body = json!({"email": "taken@example.com", "password": PASSWORD});
    let r = signup::handle(
        state.clone(),
        bench::post_event("/auth/signup", &body, "10.9.0.1"),
    )
    .await;
    assert_eq!(r.status(), 202);

    let login = |email: &'static str| {
        let state = state.clone();
        move |_round: usize| {
            let state = state.clone();
            async move {
                let body = json!({"email": email, "password": "not the password at all"});
                let r =
                    login::handle(state, bench::post_event("/auth/login", &body, "10.9.0.2")).await;
                assert_eq!(r.status(), 401, "{}", text(&r));
            }
        }
    };
    let mut logins = interleave(login("taken@example.com"), login("nobody@example.com")).await;

    let free = |round: usize| {
        let state = state.clone();
        async move {
            let body = json!({"email": format!("free{round}@example.com"), "password": PASSWORD});
            let r =
                signup::handle(state, bench::post_event("/auth/signup", &body, "10.9.0.3")).await;
            assert_eq!(r.status(), 202, "{}", text(&r));
        }
    };
    let taken = |_round: usize| {
        let state = state.clone();
        async move {
            let body = json!({"email": "taken@example.com", "password": "another quiet harbor 19"});
            let r =
                signup::handle(state, bench::post_event("/auth/signup", &body, "10.9.0.3")).await;
            assert_eq!(r.status(), 202, "{}", text(&r));
        }
    };
    let mut signups = interleave(free, taken).await;

    let (login_rows, login_medians) = bench::timing_rows(
        &[
            &format!("{name}: login, wrong password, address with an account"),
            &format!("{name}: login, address without an account"),
        ],
        &mut logins,
    );
    let (signup_rows, signup_medians) = bench::timing_rows(
        &[
            &format!("{name}: concealing sign-up, free address"),
            &format!("{name}: concealing sign-up, taken address"),
        ],
        &mut signups,
    );
    let login_ratio = login_medians[1].as_secs_f64() / login_medians[0].as_secs_f64();
    let signup_ratio = signup_medians[1].as_secs_f64() / signup_medians[0].as_secs_f64();
    println!("{name}: login ratio {login_ratio:.3}, sign-up ratio {signup_ratio:.3}");
    format!(
        "{login_rows}{signup_rows}| {name}: without/with account (login) | **{login_ratio:.3}** ({}) | |\n\
         | {name}: taken/free (sign-up) | **{signup_ratio:.3}** ({}) | |\n",
        bench::within_ten_percent(login_ratio),
        bench::within_ten_percent(signup_ratio),
    )
}

#[tokio::main]
async fn main() {
    let mut rows = backend(false).await;
    if edge::testing::moto_endpoint().is_some() {
        rows.push_str(&backend(true).await);
    }
    let section = format!(
        "## Login and concealing sign-up: what a timing tells\n\n\
         `cargo run --release -p bench --bin signup-timing` — {}; {ROUNDS} interleaved rounds, in-process through the \
         handlers, on the embedded store and on moto (bench/run.sh starts it). Login: a wrong password for an address \
         with an account vs. an address without one (the same two store reads either way, `local/tests/equal_work.rs`). \
         Sign-up with `SIGNUP_CONCEALS_EXISTING=true`: a free address vs. a taken one (the same 202; the same hash and \
         create transaction; the taken address adds the owner's notice, one write).\n\n\
         | case | median | p90 |\n|---|---|---|\n{rows}",
        bench::machine()
    );
    println!("{section}");
    bench::write_section("signup-timing", &section).unwrap();
}
