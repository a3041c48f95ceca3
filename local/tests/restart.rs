//! Data and keys live in the data folder and survive a restart.

mod common;

use common::{PASSWORD, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn users_and_keys_survive_a_restart() {
    let first = TestServer::start().await;
    first.signup("keep@example.com").await;
    let token = first.login("keep@example.com", PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks = first.get("/.well-known/jwks.json", None).await.body;
    let second = first.restart().await;
    assert_eq!(second.get("/.well-known/jwks.json", None).await.body, jwks);
    assert_eq!(second.login("keep@example.com", PASSWORD).await.status, 200);
    assert_eq!(
        second
            .post("/auth/validate-token", json!({ "token": token }))
            .await
            .status,
        200
    );
    second
        .post(
            "/auth/signup",
            json!({"email": "keep@example.com", "password": PASSWORD}),
        )
        .await
        .problem(409);
}

/// Guards against a silent fallback: with `TEST_BACKEND=aws` the whole
/// black-box suite really talks to DynamoDB, S3 and SQS (moto).
#[tokio::test(flavor = "multi_thread")]
async fn the_suite_runs_on_the_selected_backend() {
    let s = TestServer::start().await;
    let health = s.get("/health", None).await;
    assert_eq!(health.status, 200, "{}", health.text);
    // From the variable itself, not from the parse under test.
    let expected = match std::env::var("TEST_BACKEND").as_deref() {
        Ok("aws") => "aws",
        _ => "embedded",
    };
    assert_eq!(health.body["backend"], expected);
    assert_eq!(health.body["checks"]["store"]["status"], "ok");
    assert_eq!(health.body["checks"]["blobs"]["status"], "ok");
    assert_eq!(health.body["checks"]["queue"]["status"], "ok");
}
