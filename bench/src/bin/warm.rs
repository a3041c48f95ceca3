//! Warm latency of each handler, called in-process on the embedded store
//! (no HTTP), p50 and p99; and token validation side by side with PyJWT.
//!
//! `cargo run --release -p bench --bin warm`

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

async fn measure<F, Fut>(n: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..n.min(50) {
        f(i).await;
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        f(i).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn get_event(path: &str, context: &Value) -> lambda_http::Request {
    let e = json!({
        "version": "2.0", "routeKey": format!("GET {path}"), "rawPath": path, "rawQueryString": "", "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "bench"},
            "routeKey": format!("GET {path}"), "stage": "$default", "requestId": "b", "timeEpoch": 0,
            "authorizer": {"lambda": context}},
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&e.to_string()).unwrap()
}

#[tokio::main]
async fn main() {
    let password = "vivid tundra lantern 47";
    let (dir, state) = bench::embedded_state("warm@example.com", password).await;
    let login = bench::post_event(
        "/auth/login",
        &json!({"email": "warm@example.com", "password": password}),
        "10.0.0.1",
    );
    let response = login::handle(state.clone(), login).await;
    let lambda_http::Body::Text(text) = response.body() else {
        panic!()
    };
    let tokens: Value = serde_json::from_str(text).unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = state.tokens.verify(&token).unwrap();
    let context = json!({"user_id": claims.sub, "email": claims.email, "role": claims.role, "session_id": claims.sid});
    let mut authorizer_event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/authorizer.json"
        ))
        .unwrap(),
    )
    .unwrap();
    authorizer_event["identitySource"] = json!([format!("Bearer {token}")]);
    let authorizer_event: aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_value(authorizer_event).unwrap();

    let mut rows: Vec<(String, (Duration, Duration), &str)> = Vec::new();
    let s = state.clone();
    let t = token.clone();
    let verify = measure(20_000, |_| {
        let r = s.tokens.verify(&t);
        async move {
            r.unwrap();
        }
    })
    .await;
    rows.push((
        "token verification (signature + claims, no store)".into(),
        verify,
        "—",
    ));
    let s = state.clone();
    rows.push((
        "authorizer (verify + session and user reads)".into(),
        measure(5_000, |_| {
            let (s, e) = (s.clone(), authorizer_event.clone());
            async move {
                assert!(validate_token::authorize(&s, &e).await.is_authorized);
            }
        })
        .await,
        "≤ 50 µs",
    ));
    let s = state.clone();
    let body = json!({ "token": token });
    rows.push((
        "POST /auth/validate-token".into(),
        measure(5_000, |_| {
            let (s, req) = (
                s.clone(),
                bench::post_event("/auth/validate-token", &body, "10.0.0.1"),
            );
            async move {
                assert_eq!(validate_token::handle(s, req).await.status(), 200);
            }
        })
        .await,
        "≤ 50 µs",
    ));
    for (path, name) in [
        ("/.well-known/jwks.json", "jwks"),
        ("/auth/me", "auth-me"),
        ("/users/me", "users-me"),
        ("/health", "health"),
    ] {
        let s = state.clone();
        let ctx = context.clone();
        let result = measure(5_000, |_| {
            let (s, req) = (s.clone(), get_event(path, &ctx));
            async move {
                let response = match name {
                    "jwks" => jwks::handle(s, req).await,
                    "auth-me" => auth_me::handle(s, req).await,
                    "users-me" => users_me::handle(s, req).await,
                    _ => health::handle(s, req).await,
                };
                assert_eq!(response.status(), 200);
            }
        })
        .await;
        rows.push((format!("GET {path}"), result, "—"));
    }
    // Refresh rotates: each call uses the token the previous one returned.
    let current = std::sync::Mutex::new(tokens["refresh_token"].as_str().unwrap().to_owned());
    let s = state.clone();
    rows.push((
        "POST /auth/refresh (rotation: 3 writes in a transaction)".into(),
        measure(500, |_| {
            let req = bench::post_event(
                "/auth/refresh",
                &json!({"refresh_token": current.lock().unwrap().clone()}),
                "10.0.0.1",
            );
            let (s, current) = (s.clone(), &current);
            async move {
                let r = refresh::handle(s, req).await;
                let lambda_http::Body::Text(text) = r.body() else {
                    panic!()
                };
                let v: Value = serde_json::from_str(text).unwrap();
                *current.lock().unwrap() = v["refresh_token"].as_str().unwrap().to_owned();
            }
        })
        .await,
        "—",
    ));
    let s = state.clone();
    rows.push((
        "argon2id hash alone (m=19456 KiB, t=2, p=1)".into(),
        measure(20, |_| async {
            shared::password::hash("vivid tundra lantern 47".into())
                .await
                .map(|_| ())
                .unwrap()
        })
        .await,
        "—",
    ));
    let _ = s;
    let s = state.clone();
    rows.push((
        "POST /auth/login (one argon2 verification)".into(),
        measure(20, |_| {
            let req = bench::post_event(
                "/auth/login",
                &json!({"email": "warm@example.com", "password": password}),
                "10.0.0.1",
            );
            let s = s.clone();
            async move { assert_eq!(login::handle(s, req).await.status(), 200) }
        })
        .await,
        "argon2-bound",
    ));
    let s = state.clone();
    rows.push((
        "POST /auth/signup (one argon2 hash + zxcvbn)".into(),
        measure(20, |i| {
            let req = bench::post_event("/auth/signup", &json!({"email": format!("w{i}-{}@example.com", uuid_like()), "password": password}), "10.0.0.1");
            let s = s.clone();
            async move { assert_eq!(signup::handle(s, req).await.status(), 201) }
        })
        .await,
        "argon2-bound",
    ));

    // PyJWT, same token, same public key.
    let token_file = dir.path().join("token.txt");
    let jwk_file = dir.path().join("jwk.json");
    std::fs::write(&token_file, &token).unwrap();
    std::fs::write(
        &jwk_file,
        serde_json::to_string(&state.tokens.jwks().keys[0]).unwrap(),
    )
    .unwrap();
    let python = std::env::var("BENCH_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    let peer = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/pyjwt_verify.py"))
        .args([
            token_file.to_str().unwrap(),
            jwk_file.to_str().unwrap(),
            "user-platform",
            state.tokens.issuer(),
            "20000",
        ])
        .output();
    let peer_line = match peer {
        Ok(out) if out.status.success() => {
            let pyjwt_us: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0.0);
            let ours = verify.0.as_secs_f64() * 1e6;
            format!(
                "Token validation, same EdDSA token and key: ours {ours:.1} µs median, PyJWT {pyjwt_us:.1} µs median — **{:.1}×** faster.",
                pyjwt_us / ours
            )
        }
        _ => format!(
            "PyJWT comparison skipped: no PyJWT at {python} (run `bash tests/run-all.sh` once to create .venv)."
        ),
    };
    println!("{peer_line}");

    let mut table = String::from("| operation | p50 | p99 | target |\n|---|---|---|---|\n");
    for (name, (p50, p99), target) in &rows {
        table.push_str(&format!(
            "| {name} | {} | {} | {target} |\n",
            us(*p50),
            us(*p99)
        ));
        println!("{name}: p50 {} p99 {}", us(*p50), us(*p99));
    }
    let section = format!(
        "## Warm latency (in-process, embedded store)\n\n\
         `cargo run --release -p bench --bin warm` — {}; each handler called in-process with a Lambda event, after a warm-up.\n\n{table}\n{peer_line}",
        bench::machine()
    );
    bench::write_section("warm", &section).unwrap();
}

fn uuid_like() -> u128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u128
}
