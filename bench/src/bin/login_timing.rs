//! Login with a wrong password vs. login with an unknown email: same status,
//! same body, and (thanks to the dummy hash) the same cost. Measured
//! in-process through the login handler, interleaved to share the noise.
//!
//! `cargo run --release -p bench --bin login-timing`

use std::time::{Duration, Instant};

use serde_json::json;

const ROUNDS: usize = 40;

#[tokio::main]
async fn main() {
    let password = "vivid tundra lantern 47";
    let (_dir, state) = bench::embedded_state("known@example.com", password).await;

    let cases = [
        (
            "wrong password",
            json!({"email": "known@example.com", "password": "not the password"}),
        ),
        (
            "unknown email",
            json!({"email": "nobody@example.com", "password": "not the password"}),
        ),
        (
            "right password",
            json!({"email": "known@example.com", "password": password}),
        ),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut bodies: Vec<String> = vec![String::new(); cases.len()];
    for round in 0..ROUNDS + 3 {
        for (i, (_, body)) in cases.iter().enumerate() {
            let req = bench::post_event("/auth/login", body, "10.0.0.2");
            let start = Instant::now();
            let response = login::handle(state.clone(), req).await;
            let took = start.elapsed();
            if round >= 3 {
                samples[i].push(took);
            }
            if i < 2 {
                let lambda_http::Body::Text(text) = response.body() else {
                    panic!("text body")
                };
                assert_eq!(response.status(), 401);
                bodies[i] = text.clone();
            }
        }
    }
    assert_eq!(bodies[0], bodies[1], "same body for both failures");
    let names: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
    let (rows, medians) = bench::timing_rows(&names, &mut samples);
    let ratio = medians[1].as_secs_f64() / medians[0].as_secs_f64();
    let verdict = bench::within_ten_percent(ratio);
    let section = format!(
        "## Login: wrong password vs. unknown email\n\n\
         `cargo run --release -p bench --bin login-timing` — {}; {ROUNDS} interleaved rounds, in-process through the login handler on the embedded store.\n\n\
         | case | median | p90 |\n|---|---|---|\n{rows}\n\
         Unknown email / wrong password median ratio: **{ratio:.3}** ({verdict}). Both answer 401 with the same body. \
         Each login costs one argon2id verification (m=19456 KiB, t=2, p=1), which dominates.",
        bench::machine()
    );
    println!("{section}");
    bench::write_section("login-timing", &section).unwrap();
}
