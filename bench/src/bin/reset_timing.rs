//! A password-reset request for an address with an account vs. one
//! without: same status, same body, same work (the request only counts
//! the attempt and queues an event; the consumer does the lookup), so the
//! same time. Measured in-process through the handler, interleaved.
//!
//! `cargo run --release -p bench --bin reset-timing`

use std::time::{Duration, Instant};

use serde_json::json;

const ROUNDS: usize = 400;

#[tokio::main]
async fn main() {
    let password = "vivid tundra lantern 47";
    let (_dir, state) = bench::embedded_state("known@example.com", password).await;
    let cases = [
        (
            "an account's address",
            json!({"email": "known@example.com"}),
        ),
        ("an unknown address", json!({"email": "nobody@example.com"})),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut bodies: Vec<String> = vec![String::new(); cases.len()];
    for round in 0..ROUNDS + 20 {
        for (i, (_, body)) in cases.iter().enumerate() {
            // The limits are counted (the same two counters for both
            // addresses) but set so high that none refuses.
            let req = bench::post_event("/auth/password-reset", body, "10.0.0.3");
            let start = Instant::now();
            let response = account_email::handle(state.clone(), req).await;
            let took = start.elapsed();
            if round >= 20 {
                samples[i].push(took);
            }
            let lambda_http::Body::Text(text) = response.body() else {
                panic!("text body")
            };
            assert_eq!(response.status(), 202, "{text}");
            bodies[i] = text.clone();
        }
    }
    assert_eq!(bodies[0], bodies[1], "the same body");
    let names: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
    let (rows, medians) = bench::timing_rows(&names, &mut samples);
    let ratio = medians[1].as_secs_f64() / medians[0].as_secs_f64();
    let verdict = bench::within_ten_percent(ratio);
    let section = format!(
        "## Password reset: an account's address vs. an unknown one\n\n\
         `cargo run --release -p bench --bin reset-timing` — {}; {ROUNDS} interleaved rounds, in-process through the handler on the embedded store.\n\n\
         | address | median | p90 |\n|---|---|---|\n{rows}\n\
         Unknown / known median ratio: **{ratio:.3}** ({verdict}). Both answer 202 with the same body. \
         The request does the same work for both (two rate counters, one outbox write, one queue send); \
         the lookup and the mail happen in the consumer.",
        bench::machine()
    );
    println!("{section}");
    bench::write_section("reset-timing", &section).unwrap();
}
