//! A process's first signup hashes its password beside zxcvbn's first
//! estimate (signup's `first_hash_early`). Its own test binary, so that
//! signup is the first of the process (on the in-process server; with
//! `--lambda` binaries the check still holds, through a fresh process).

mod common;

use common::{PASSWORD, TestServer};
use serde_json::json;
use shared::domain::NewPassword;

#[tokio::test(flavor = "multi_thread")]
async fn the_first_signup_of_a_process_stores_the_hash_of_its_own_password() {
    assert!(
        !NewPassword::estimator_ready(),
        "something estimated a password before this test's first signup"
    );
    let s = TestServer::start().await;
    // Answers 201 or fails the test.
    s.signup("first@example.com").await;
    let ok = s.login("first@example.com", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let wrong = s.login("first@example.com", "amber quartz meadow 19").await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    // A weak password is refused whether or not a hash ran early.
    let weak = s
        .post(
            "/auth/signup",
            json!({"email": "second@example.com", "password": "password1"}),
        )
        .await;
    assert_eq!(weak.status, 422, "{}", weak.text);
    assert_eq!(s.login("second@example.com", "password1").await.status, 401);
}
