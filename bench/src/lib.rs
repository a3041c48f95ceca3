//! Shared helpers of the benchmarks: statistics, events, and writing a
//! section of `BENCHMARKS.md` (each benchmark owns one section).

use std::time::Duration;

/// Median and p90 of samples.
pub fn stats(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// An API Gateway v2 event for a JSON POST, as the local gateway builds it
/// ([`local::api_event::ApiEvent`]).
pub fn post_event(path: &str, body: &serde_json::Value, source_ip: &str) -> lambda_http::Request {
    local::api_event::ApiEvent::new("POST", path)
        .json(body)
        .source_ip(source_ip)
        .request()
}

/// Replaces the section `name` of BENCHMARKS.md (creating file or section).
pub fn write_section(name: &str, body: &str) -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../BENCHMARKS.md");
    let current = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# Benchmarks\n\nEvery figure below was produced by the command shown with it, on the machine named.\nThese machines are noisy: read medians and ratios, not single runs.\n".into()
    });
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let section = format!("{start}\n{body}\n{end}");
    let next = match (current.find(&start), current.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}{}", &current[..a], section, &current[b + end.len()..])
        }
        _ => format!("{}\n{}\n", current.trim_end(), section),
    };
    std::fs::write(path, next)
}

/// A one-line description of this machine and run.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let date = time::OffsetDateTime::now_utc().date();
    format!("{cpus} cores ({model}), {profile} build, {date}")
}

/// The embedded configuration for `dir` with every rate limit lifted:
/// benchmarks measure the work, not the refusals.
pub fn unlimited_config(dir: &std::path::Path) -> shared::Config {
    let mut config = shared::Config::embedded(dir);
    lift_limits(&mut config);
    config
}

/// Lifts the login, sign-up and reset limits: a benchmark makes far more
/// attempts from one address than a client may.
pub fn lift_limits(config: &mut shared::Config) {
    config.login_max_failures_per_account = u32::MAX.into();
    config.login_max_failures_per_ip = u32::MAX.into();
    config.login_max_failures_per_client = u32::MAX.into();
    config.signups_per_ip_per_hour = u32::MAX.into();
    config.resets_per_email_per_hour = u32::MAX.into();
    config.resets_per_ip_per_hour = u32::MAX.into();
}

/// An embedded state in a fresh folder with one user signed up, login
/// limits out of the way (benchmarks log in thousands of times).
pub async fn embedded_state(
    email: &str,
    password: &str,
) -> (tempfile::TempDir, std::sync::Arc<shared::AppState>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let state = edge::wiring::build(unlimited_config(dir.path()))
        .await
        .expect("the embedded state");
    let signup = post_event(
        "/auth/signup",
        &serde_json::json!({"email": email, "password": password}),
        "10.0.0.1",
    );
    assert_eq!(signup::handle(state.clone(), signup).await.status(), 201);
    (dir, state)
}

/// An API Gateway v2 event for any route, as the local gateway builds it
/// ([`local::api_event::ApiEvent`]): `route` is the route key's path
/// (`/tasks/{id}`), `path` the concrete one (the path parameters come from
/// it; `path_params` only says what they are, and is checked in debug
/// builds), `context` the authorizer's (`Value::Null` for public routes).
pub fn event(
    method: &str,
    route: &str,
    path: &str,
    path_params: &[(&str, &str)],
    query: &str,
    body: Option<&serde_json::Value>,
    context: &serde_json::Value,
) -> lambda_http::Request {
    let mut event = local::api_event::ApiEvent::new(method, route)
        .at(path)
        .query(query);
    if let Some(b) = body {
        event = event.json(b);
    }
    if !context.is_null() {
        event = event.caller(context);
    }
    let request = event.request();
    debug_assert!(path_params.iter().all(|(k, v)| {
        lambda_http::RequestExt::path_parameters_ref(&request).and_then(|p| p.first(k)) == Some(*v)
    }));
    request
}

/// p50 and p99 of `n` timed runs of the futures `f` makes, after a
/// warm-up. Only the future is timed: what `f` does before returning it
/// (building the request event, say) is the benchmark's setup, not the
/// handler's work.
pub async fn measure<F, Fut>(n: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..n.min(50) {
        f(i).await;
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let run = f(n + i);
        let start = std::time::Instant::now();
        run.await;
        samples.push(start.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Microseconds below a millisecond, milliseconds above.
pub fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// The JSON body of a handler's answer.
pub fn body_json(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

/// Logs in through the login handler; returns the token answer and the
/// authorizer context a protected route would get.
pub async fn log_in(
    state: &std::sync::Arc<shared::AppState>,
    email: &str,
    password: &str,
) -> (serde_json::Value, serde_json::Value) {
    let login = post_event(
        "/auth/login",
        &serde_json::json!({"email": email, "password": password}),
        "10.0.0.1",
    );
    let tokens = body_json(&login::handle(state.clone(), login).await);
    let token = tokens["access_token"].as_str().expect("a token");
    let claims = state.tokens.verify(token).expect("our own token");
    let context = serde_json::json!({"user_id": claims.sub, "email": claims.email, "role": claims.role, "session_id": claims.sid});
    (tokens, context)
}

/// Where benchmarks leave figures for later steps (the cost estimate).
pub fn results_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// `n` catalog books ("Book 000"…) with plenty of stock; returns their ids.
pub async fn seed_books(state: &shared::AppState, n: i64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let book = shared::domain::Book::new(
            shared::domain::BookTitle::parse(&format!("Book {i:03}")).expect("a title"),
            shared::domain::Author::parse("Bench").expect("an author"),
            None,
            1000 + i,
            1_000_000,
        );
        state.shop.create_book(&book).await.expect("a stored book");
        ids.push(book.id);
    }
    ids
}

/// The load of an `oha` run: `BENCH_SECS` (default 10) seconds at
/// `BENCH_CONCURRENCY` (default 16) connections.
pub fn load_settings() -> (u64, u64) {
    let get = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (get("BENCH_SECS", 10), get("BENCH_CONCURRENCY", 16))
}

/// What one `oha` run measured.
pub struct OhaReport {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub total: u64,
    /// Non-2xx answers plus failed requests.
    pub errors: u64,
}

/// Runs `oha -z {secs}s -c {concurrency} -w` against `url` with `extra`
/// arguments (method, headers, body) and reads its JSON report. `OHA`
/// names the binary (default `oha` on PATH).
pub async fn oha(url: &str, secs: u64, concurrency: u64, extra: &[String]) -> OhaReport {
    use serde_json::Value;
    let oha = std::env::var("OHA").unwrap_or_else(|_| "oha".into());
    let mut cmd = tokio::process::Command::new(&oha);
    cmd.args(["-z", &format!("{secs}s"), "-c", &concurrency.to_string()])
        .args(["--no-tui", "--output-format", "json"])
        // Let in-flight requests finish at the deadline instead of
        // counting them as "aborted" errors.
        .arg("-w")
        .args(extra)
        .arg(url);
    let out = match cmd.output().await {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!("oha failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("oha not found ({e}): cargo install oha --locked"),
    };
    let report: Value = serde_json::from_slice(&out.stdout).expect("oha's JSON");
    let p = |k: &str| report["latencyPercentiles"][k].as_f64().unwrap_or(0.0) * 1000.0;
    let codes = report["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let total: u64 = codes.values().filter_map(Value::as_u64).sum();
    let errors = codes
        .iter()
        .filter(|(code, _)| !code.starts_with('2'))
        .filter_map(|(_, n)| n.as_u64())
        .sum::<u64>()
        + report["errorDistribution"]
            .as_object()
            .map(|e| e.values().filter_map(Value::as_u64).sum::<u64>())
            .unwrap_or(0);
    OhaReport {
        rps: report["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: p("p50"),
        p99_ms: p("p99"),
        total,
        errors,
    }
}

/// The table rows (`| name | median | p90 |`) of interleaved timings and
/// the medians, for the "same time either way" comparisons.
pub fn timing_rows(names: &[&str], samples: &mut [Vec<Duration>]) -> (String, Vec<Duration>) {
    let mut rows = String::new();
    let mut medians = Vec::new();
    for (name, s) in names.iter().zip(samples.iter_mut()) {
        let (p50, p90) = stats(s);
        medians.push(p50);
        rows.push_str(&format!("| {name} | {} | {} |\n", ms(p50), ms(p90)));
    }
    (rows, medians)
}

/// The verdict on a ratio of medians that should be 1 within 10%.
pub fn within_ten_percent(ratio: f64) -> &'static str {
    if (0.9..=1.1).contains(&ratio) {
        "within the 10% target"
    } else {
        "OUTSIDE the 10% target"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The benchmarks' events reach the handlers as the gateway's do: a
    /// signup (inside `embedded_state`), a login, and a protected create and
    /// read with path parameters.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_events_are_served() {
        let password = "vivid tundra lantern 47";
        let (_dir, state) = super::embedded_state("ev@example.com", password).await;
        let login = super::post_event(
            "/auth/login",
            &json!({"email": "ev@example.com", "password": password}),
            "10.0.0.9",
        );
        let response = login::handle(state.clone(), login).await;
        assert_eq!(response.status(), 200);
        let lambda_http::Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        let token: serde_json::Value = serde_json::from_str(text).unwrap();
        let claims = state
            .tokens
            .verify(token["access_token"].as_str().unwrap())
            .unwrap();
        let ctx = json!({"user_id": claims.sub, "email": claims.email, "role": claims.role, "session_id": claims.sid});
        let create = super::event(
            "POST",
            "/tasks",
            "/tasks",
            &[],
            "",
            Some(&json!({"title": "bench"})),
            &ctx,
        );
        let response = tasks_crud::handle(state.clone(), create).await;
        assert_eq!(response.status(), 201);
        let lambda_http::Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        let id = serde_json::from_str::<serde_json::Value>(text).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/tasks/{id}");
        let get = super::event("GET", "/tasks/{id}", &path, &[("id", &id)], "", None, &ctx);
        assert_eq!(tasks_crud::handle(state, get).await.status(), 200);
    }
}
