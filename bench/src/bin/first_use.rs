//! What a fresh process pays the first time it does the work of a signup or
//! a login, against the second time: step by step, and for the whole
//! handler. A first use happens once per process, so this binary runs
//! itself once per sample (`FIRST_USE_ONCE=steps|signup|login`: measure,
//! print one JSON object in µs) and writes the medians to BENCHMARKS.md:
//! `cargo run --release -p bench --bin first-use` (`BENCH_RUNS`, default 20).
use std::time::{Duration, Instant};

use serde_json::json;

/// The account the login processes sign in to (signed up by the parent).
const LOGIN_EMAIL: &str = "first-use@example.com";
const PASSWORD: &str = "vivid tundra lantern 47";

fn main() {
    if let Some(mode) = std::env::var_os("FIRST_USE_ONCE") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        match mode.to_str() {
            Some("steps") => runtime.block_on(once()),
            Some(handler) => runtime.block_on(handler_once(handler)),
            None => panic!("FIRST_USE_ONCE is not UTF-8"),
        }
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let me = std::env::current_exe().unwrap();
    let section = profile(&me, runs);
    println!("{section}");
    bench::write_section("first-use", &section).unwrap();
}

async fn once() {
    let mut out = serde_json::Map::new();
    let mut time = |name: &str, first: f64, second: f64| {
        out.insert(
            name.to_owned(),
            serde_json::json!({"first_us": first, "second_us": second}),
        );
    };
    let us = |t: Instant| t.elapsed().as_secs_f64() * 1e6;

    // Random bytes (session ids, refresh tokens, salts): AWS-LC's first draw
    // seeds its generator.
    let mut bytes = [0u8; 32];
    let t = Instant::now();
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let first = us(t);
    let t = Instant::now();
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    time("random bytes (AWS-LC)", first, us(t));

    // The password-strength estimate: zxcvbn's dictionaries are built on first use.
    let t = Instant::now();
    shared::domain::NewPassword::parse("vivid tundra lantern 47", &["ada@example.com"]).unwrap();
    let first = us(t);
    let t = Instant::now();
    shared::domain::NewPassword::parse("amber quartz meadow 19", &["bob@example.com"]).unwrap();
    time("password strength (zxcvbn)", first, us(t));

    // argon2id: a 19 MiB working set. A login's first is a verification
    // (here against the dummy hash, as for an unknown email), a signup's a hash.
    let t = Instant::now();
    shared::password::verify("vivid tundra lantern 47".into(), None)
        .await
        .unwrap();
    let first = us(t);
    let t = Instant::now();
    shared::password::verify("vivid tundra lantern 47".into(), None)
        .await
        .unwrap();
    time("argon2id verify", first, us(t));
    let t = Instant::now();
    shared::password::hash("vivid tundra lantern 47".into())
        .await
        .unwrap();
    let first = us(t);
    let t = Instant::now();
    shared::password::hash("amber quartz meadow 19".into())
        .await
        .unwrap();
    time("argon2id hash", first, us(t));
    println!("{}", serde_json::Value::Object(out));
}

/// A whole signup or login, as its Lambda runs it (the state built the way
/// the function's `main` builds it, adapters opened on first use), on the
/// embedded store in `FIRST_USE_DIR`: the first call of the process and
/// the second. Both succeed (201, 200) or the run fails.
async fn handler_once(handler: &str) {
    let dir = std::env::var_os("FIRST_USE_DIR").expect("FIRST_USE_DIR");
    let state = shared::AppState::for_function(bench::unlimited_config(dir.as_ref()))
        .await
        .unwrap();
    let nonce = std::process::id();
    let call = |i: u32| {
        let state = state.clone();
        async move {
            let ip = format!("10.9.{}.{}", nonce % 250, i + 1);
            let t = Instant::now();
            let status = if handler == "signup" {
                let body =
                    json!({"email": format!("fu-{nonce}-{i}@example.com"), "password": PASSWORD});
                signup::handle(state, bench::post_event("/auth/signup", &body, &ip))
                    .await
                    .status()
            } else {
                let body = json!({"email": LOGIN_EMAIL, "password": PASSWORD});
                login::handle(state, bench::post_event("/auth/login", &body, &ip))
                    .await
                    .status()
            };
            assert!(status.is_success(), "{handler}: {status}");
            t.elapsed().as_secs_f64() * 1e6
        }
    };
    let first = call(0).await;
    let second = call(1).await;
    let name = format!("whole {handler} handler (embedded store)");
    println!(
        "{}",
        json!({name: {"first_us": first, "second_us": second}})
    );
}

/// `runs` fresh processes per mode; the median of each step's first and
/// second time.
fn profile(me: &std::path::Path, runs: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let state = shared::AppState::build(bench::unlimited_config(dir.path()))
            .await
            .unwrap();
        let body = json!({"email": LOGIN_EMAIL, "password": PASSWORD});
        let signup = signup::handle(state, bench::post_event("/auth/signup", &body, "10.8.0.1"));
        assert_eq!(signup.await.status(), 201);
    });
    let mut figures: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> = Default::default();
    for (_, mode) in (0..runs).flat_map(|r| ["steps", "signup", "login"].map(|m| (r, m))) {
        let out = std::process::Command::new(me)
            .env("FIRST_USE_ONCE", mode)
            .env("FIRST_USE_DIR", dir.path())
            .output()
            .expect("run first-use");
        assert!(
            out.status.success(),
            "first-use {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("first-use JSON");
        for (step, t) in v.as_object().unwrap() {
            let e = figures.entry(step.clone()).or_default();
            e.0.push(t["first_us"].as_f64().unwrap());
            e.1.push(t["second_us"].as_f64().unwrap());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut rows = String::new();
    for (step, (mut first, mut second)) in figures {
        let (f, s) = (median(&mut first), median(&mut second));
        rows.push_str(&format!(
            "| {step} | {} | {} | {} |\n",
            bench::us(Duration::from_secs_f64(f / 1e6)),
            bench::us(Duration::from_secs_f64(s / 1e6)),
            bench::us(Duration::from_secs_f64((f - s).max(0.0) / 1e6)),
        ));
    }
    format!(
        "### Where the first signup and login go\n\n\
         What a fresh process pays the first time it does each step of a signup or login, against the second time \
         (`cargo run {}-p bench --bin first-use` — {}; once per process, median of {runs} processes each; the steps in this order in one process, each whole handler in its own).\n\n\
         | step | first | second | first-use cost |\n|---|---|---|---|\n{rows}",
        if cfg!(debug_assertions) {
            ""
        } else {
            "--release "
        },
        bench::machine()
    )
}
