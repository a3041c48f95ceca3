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
