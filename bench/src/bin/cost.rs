//! arm64 `bootstrap` sizes and the estimated Lambda cost per million
//! requests of each function at 128 MB, from the durations the other
//! benchmarks measured (`target/bench/warm.json`, `target/bench/cold.json`).
//!
//! `cargo lambda build --release --arm64` in each function's crate with
//! `CARGO_TARGET_DIR=target/arm64` first (as `sam build` builds them, each
//! with its own features; `bench/run.sh` does both), then
//! `cargo run --release -p bench --bin cost`.

use serde_json::Value;

/// arm64 prices in us-east-1 (USD): per request, and per GB-second (first 6 billion GB-s a month).
const PER_REQUEST: f64 = 0.20 / 1_000_000.0;
const PER_GB_SECOND: f64 = 0.000_013_333_4;
const MEMORY_MB: f64 = 128.0;
/// Lambda gives a function CPU in proportion to memory: one vCPU at 1,769 MB.
const FULL_VCPU_MB: f64 = 1769.0;
/// The arm64 `bootstrap` sizes (MB) of 2026-11-24 (BENCHMARKS.md at
/// cf9e50a), before each function linked only what it uses; issue 15's
/// target is 60 % of these. The functions added since have none.
const SIZE_2026_11_24: [(&str, f64); 17] = [
    ("signup", 15.0),
    ("login", 13.5),
    ("validate-token", 13.5),
    ("authorizer", 13.2),
    ("jwks", 13.3),
    ("health", 13.3),
    ("auth-me", 13.3),
    ("refresh", 13.4),
    ("sessions", 15.0),
    ("users-me", 13.6),
    ("admin", 13.5),
    ("tasks-crud", 13.4),
    ("pdf-generate", 16.2),
    ("books", 13.3),
    ("orders", 13.3),
    ("user-events", 13.0),
    ("outbox-relay", 12.9),
];
/// Issue 15's size target, as a share of [`SIZE_2026_11_24`].
const SIZE_TARGET: f64 = 0.60;

/// The bootstrap's size in MB, and how it compares with 2026-11-24's.
fn size_cells(root: &std::path::Path, name: &str) -> (String, String) {
    let bootstrap = root
        .join("target/arm64/lambda")
        .join(name)
        .join("bootstrap");
    let Ok(meta) = std::fs::metadata(&bootstrap) else {
        return ("not built".into(), "—".into());
    };
    let mb = meta.len() as f64 / 1_048_576.0;
    let share = match SIZE_2026_11_24.iter().find(|(n, _)| *n == name) {
        Some((_, before)) => {
            let share = mb / before;
            let verdict = if share <= SIZE_TARGET {
                "met"
            } else {
                "missed"
            };
            format!("{before:.1} MB → {:.0} % ({verdict})", share * 100.0)
        }
        None => "— (added since)".into(),
    };
    (format!("{mb:.1} MB"), share)
}

fn read(name: &str) -> Value {
    std::fs::read_to_string(bench::results_dir().join(name))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn per_million(ms: f64) -> f64 {
    let billed_s = ms.ceil().max(1.0) / 1000.0;
    1_000_000.0 * (PER_REQUEST + billed_s * MEMORY_MB / 1024.0 * PER_GB_SECOND)
}

fn main() {
    let warm = read("warm.json");
    let cold = read("cold.json");
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    // (function binary, the warm measurement standing for one invocation)
    let functions = [
        (
            "signup",
            Some("POST /auth/signup (one argon2 hash + zxcvbn)"),
        ),
        ("login", Some("POST /auth/login (one argon2 verification)")),
        ("validate-token", Some("POST /auth/validate-token")),
        (
            "authorizer",
            Some("authorizer (verify, then the session and user read)"),
        ),
        ("jwks", Some("GET /.well-known/jwks.json")),
        ("health", Some("GET /health")),
        ("auth-me", Some("GET /auth/me")),
        (
            "refresh",
            Some("POST /auth/refresh (rotation: 3 writes in a transaction)"),
        ),
        ("sessions", None),
        ("users-me", Some("GET /users/me")),
        ("admin", None),
        (
            "tasks-crud",
            Some("GET /tasks (first page of 20, user with 3,000+ tasks)"),
        ),
        (
            "pdf-generate",
            Some("profile PDF drawing (layout, font subset, save)"),
        ),
        ("books", Some("GET /books (first page of 20)")),
        (
            "orders",
            Some("POST /orders (one book, stock taken in a transaction)"),
        ),
        ("user-events", None),
        ("outbox-relay", None),
    ];
    let mut rows = String::new();
    for (name, warm_key) in functions {
        let (size, share) = size_cells(&root, name);
        // A warm figure when there is one; else the cold start's first
        // invocation minus its init (the handler's own time in that run).
        let (ms, source) = match warm_key.and_then(|k| warm[k].as_f64()) {
            Some(ms) => (ms, "warm p50"),
            None => match (
                cold[name]["first_ms"].as_f64(),
                cold[name]["init_ms"].as_f64(),
            ) {
                (Some(f), Some(i)) => ((f - i).max(0.0), "cold first − init"),
                _ => {
                    rows.push_str(&format!("| {name} | {size} | {share} | — | — | — | — |\n"));
                    continue;
                }
            },
        };
        let scaled = ms * FULL_VCPU_MB / MEMORY_MB;
        rows.push_str(&format!(
            "| {name} | {size} | {share} | {ms:.3} ms ({source}) | ${:.2} | {scaled:.1} ms | ${:.2} |\n",
            per_million(ms),
            per_million(scaled)
        ));
    }
    // Every other function built: its size (no duration is measured here).
    let listed: Vec<&str> = functions.iter().map(|(n, _)| *n).collect();
    let mut others: Vec<String> = std::fs::read_dir(root.join("target/arm64/lambda"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !listed.contains(&n.as_str()))
        .collect();
    others.sort();
    for name in others {
        let (size, share) = size_cells(&root, &name);
        rows.push_str(&format!("| {name} | {size} | {share} | — | — | — | — |\n"));
    }
    let section = format!(
        "## arm64 sizes and cost per million requests\n\n\
         `cargo lambda build --release --arm64` in each function's crate (`CARGO_TARGET_DIR=target/arm64`; each build resolves that function's features alone, as `sam build` does), then `cargo run --release -p bench --bin cost` — {}.\n\n\
         Cost per million requests at {MEMORY_MB:.0} MB on arm64 = 1,000,000 × ($0.20 / 1,000,000 + ⌈duration in ms⌉ / 1000 s × {MEMORY_MB:.0} / 1024 GB × ${PER_GB_SECOND} per GB-s) \
         (us-east-1 arm64 prices; billing rounds each invocation up to the next millisecond; free tier ignored). \
         Two durations per function: as measured here (a whole core), and scaled by Lambda's CPU share at {MEMORY_MB:.0} MB \
         ({MEMORY_MB:.0} / {FULL_VCPU_MB:.0} of a vCPU, so × {:.1}), which is the honest figure for CPU-bound work such as argon2 and PDF drawing. \
         On AWS each DynamoDB/S3/SQS call adds a network round trip (single-digit milliseconds) that the embedded store does not have; \
         at this price level that adds about $0.002 per million requests per millisecond.\n\n\
         | function | arm64 bootstrap | vs 2026-11-24 (target ≤ {:.0} %) | duration | $ / million | duration at the {MEMORY_MB:.0} MB CPU share | $ / million |\n|---|---|---|---|---|---|---|\n{rows}",
        bench::machine(),
        FULL_VCPU_MB / MEMORY_MB,
        SIZE_TARGET * 100.0
    );
    bench::write_section("cost", &section).unwrap();
    println!("{section}");
}
