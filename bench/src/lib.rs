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

/// An API Gateway v2 event for a JSON POST (as `events/` samples are).
pub fn post_event(path: &str, body: &serde_json::Value, source_ip: &str) -> lambda_http::Request {
    let event = serde_json::json!({
        "version": "2.0", "routeKey": format!("POST {path}"), "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
            "sourceIp": source_ip, "userAgent": "bench"}, "routeKey": format!("POST {path}"),
            "stage": "$default", "requestId": "bench", "timeEpoch": 0},
        "body": body.to_string(), "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid event")
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

/// An embedded state in a fresh folder with one user signed up, login
/// limits out of the way (benchmarks log in thousands of times).
pub async fn embedded_state(
    email: &str,
    password: &str,
) -> (tempfile::TempDir, std::sync::Arc<shared::AppState>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = shared::Config::embedded(dir.path());
    config.login_max_failures_per_account = u32::MAX;
    config.login_max_failures_per_ip = u32::MAX;
    let state = shared::AppState::build(config)
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
