//! What a fresh process pays the first time it does the work of a signup or
//! a login, against the second time. A first use happens once per process,
//! so this binary runs itself once per sample (`FIRST_USE_ONCE=1`: measure,
//! print one JSON object in µs) and writes the medians to BENCHMARKS.md:
//! `cargo run --release -p bench --bin first-use` (`BENCH_RUNS`, default 20).
use std::time::{Duration, Instant};

fn main() {
    if std::env::var_os("FIRST_USE_ONCE").is_some() {
        tokio::runtime::Runtime::new().unwrap().block_on(once());
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

/// `runs` fresh processes; the median of each step's first and second time.
fn profile(me: &std::path::Path, runs: usize) -> String {
    let mut figures: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> = Default::default();
    for _ in 0..runs {
        let out = std::process::Command::new(me)
            .env("FIRST_USE_ONCE", "1")
            .output()
            .expect("run first-use");
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
         (`cargo run {}-p bench --bin first-use` — {}; once per process, median of {runs} processes, in this order).\n\n\
         | step | first | second | first-use cost |\n|---|---|---|---|\n{rows}",
        if cfg!(debug_assertions) {
            ""
        } else {
            "--release "
        },
        bench::machine()
    )
}
