//! Parallel wrong guesses cost at most the limit's worth of argon2
//! verifications, counted by the process's own counter — alone in this
//! test binary, the two halves taking turns, so nothing else verifies
//! passwords meanwhile.

mod common;

use common::{TestBackend, TestServer};
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn fifty_parallel_wrong_guesses_verify_at_most_the_limit(b: TestBackend) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = TestServer::start_on_with(b, |mut c| {
        c.login_max_failures_per_client = 5.into();
        c
    })
    .await;
    let user = s.signup("guessed@example.com").await;
    let before = shared::password::verifications();
    let guesses = (0..50).map(|i| {
        let s = &s;
        async move {
            s.login("guessed@example.com", &format!("wrong guess {i}"))
                .await
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let verified = shared::password::verifications() - before;
    let refused = answers.iter().filter(|a| a.status == 401).count();
    let limited = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(refused + limited, 50, "only 401 and 429");
    assert_eq!(
        verified as usize, refused,
        "one verification per 401, none per 429"
    );
    assert!(
        verified <= 5,
        "{verified} argon2 verifications for 50 guesses"
    );
    assert!(
        answers
            .iter()
            .any(|a| a.status == 429 && a.headers.contains_key("retry-after"))
    );
    // Each verified guess is audited: the store agrees.
    let log = s
        .running
        .state
        .audit
        .list(user["id"].as_str(), 100, None)
        .await
        .unwrap()
        .0;
    let failed = log.iter().filter(|e| e.action == "login.failed").count();
    assert_eq!(failed, refused);
}

on_both_backends!(fifty_parallel_wrong_guesses_verify_at_most_the_limit);
