//! Throughput of the local server (every function in one process, the
//! authorizer emulated on protected routes) under `oha` on loopback.
//!
//! `cargo run --release -p bench --bin throughput` (needs `oha` on PATH:
//! `cargo install oha --locked`; `bench/run.sh` installs it). `BENCH_SECS`
//! (default 10) and `BENCH_CONCURRENCY` (default 16) tune the run.

use std::net::SocketAddr;

use serde_json::{Value, json};

struct Case {
    label: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    auth: bool,
}

#[tokio::main]
async fn main() {
    let (secs, concurrency) = bench::load_settings();
    let dir = tempfile::tempdir().unwrap();
    let mut config = shared::Config::embedded(dir.path());
    config.login_max_failures_per_account = u32::MAX.into();
    config.login_max_failures_per_ip = u32::MAX.into();
    config.login_max_failures_per_client = u32::MAX.into();
    config.signups_per_ip_per_hour = u32::MAX.into();
    let running = local::start_with(config, SocketAddr::from(([127, 0, 0, 1], 0)), true)
        .await
        .unwrap();
    let state = running.state.clone();
    let password = "vivid tundra lantern 47";
    let signup = bench::post_event(
        "/auth/signup",
        &json!({"email": "load@example.com", "password": password}),
        "10.0.0.1",
    );
    assert_eq!(signup::handle(state.clone(), signup).await.status(), 201);
    let (tokens, context) = bench::log_in(&state, "load@example.com", password).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    for n in 0..1000 {
        let req = bench::event(
            "POST",
            "/tasks",
            "/tasks",
            &[],
            "",
            Some(&json!({"title": format!("seed {n}")})),
            &context,
        );
        assert_eq!(tasks_crud::handle(state.clone(), req).await.status(), 201);
    }

    bench::seed_books(&state, 200).await;
    let cases = [
        Case {
            label: "POST /auth/validate-token",
            method: "POST",
            path: "/auth/validate-token",
            body: Some(json!({ "token": token })),
            auth: false,
        },
        Case {
            label: "GET /auth/me (authorizer only)",
            method: "GET",
            path: "/auth/me",
            body: None,
            auth: true,
        },
        Case {
            label: "GET /tasks (first page of 20, 1,000 tasks)",
            method: "GET",
            path: "/tasks?limit=20",
            body: None,
            auth: true,
        },
        Case {
            label: "GET /books (public, first page of 20, 200 books)",
            method: "GET",
            path: "/books?limit=20",
            body: None,
            auth: false,
        },
        Case {
            label: "POST /tasks",
            method: "POST",
            path: "/tasks",
            body: Some(json!({"title": "load test task", "due_date": "2026-12-01"})),
            auth: true,
        },
    ];
    let mut rows = String::new();
    for case in cases {
        let mut extra = vec!["-m".to_owned(), case.method.to_owned()];
        if case.auth {
            extra.extend(["-H".into(), format!("authorization: Bearer {token}")]);
        }
        if let Some(body) = &case.body {
            extra.extend([
                "-T".into(),
                "application/json".into(),
                "-d".into(),
                body.to_string(),
            ]);
        }
        let r = bench::oha(
            &format!("{}{}", running.url(), case.path),
            secs,
            concurrency,
            &extra,
        )
        .await;
        println!(
            "{}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors of {}",
            case.label, r.rps, r.p50_ms, r.p99_ms, r.errors, r.total
        );
        rows.push_str(&format!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {} | {} |\n",
            case.label, r.rps, r.p50_ms, r.p99_ms, r.total, r.errors
        ));
    }
    let section = format!(
        "## Throughput of the local server\n\n\
         `cargo run --release -p bench --bin throughput` — {}; `oha -z {secs}s -c {concurrency} -w` on loopback against \
         the local server (every function in one process, the Lambda authorizer emulated on protected routes, \
         embedded store), load generator and server sharing the 2 cores.\n\n\
         | request | requests/s | p50 | p99 | requests | errors (non-2xx or failed) |\n|---|---|---|---|---|---|\n{rows}",
        bench::machine()
    );
    bench::write_section("throughput", &section).unwrap();
}
