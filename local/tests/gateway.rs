//! The local gateway routes as API Gateway's HTTP APIs do.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::TestServer;
use serde_json::json;

/// A trailing slash reaches the route without it, for every method and
/// for routes with path parameters, as API Gateway routes it.
#[tokio::test(flavor = "multi_thread")]
async fn trailing_slashes_reach_the_route() {
    let s = TestServer::start().await;
    let plain = s.get("/books", None).await;
    let slashed = s.get("/books/", None).await;
    assert_eq!((plain.status.as_u16(), slashed.status.as_u16()), (200, 200));
    assert_eq!(plain.body, slashed.body);
    let created = s
        .post(
            "/auth/signup/",
            json!({"email": "slash@example.com", "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = s.user_token_of("slash@example.com").await;
    let task = s
        .call(
            "POST",
            "/tasks/",
            &token,
            Some(json!({"title": "slashed"})),
            &[],
        )
        .await;
    assert_eq!(task.status, 201, "{}", task.text);
    let id = task.body["id"].as_str().unwrap();
    let read = s.get(&format!("/tasks/{id}/"), Some(&token)).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["title"], "slashed");
    // Protected routes keep their authorizer with or without the slash.
    assert_eq!(s.get("/users/me/", None).await.status, 401);
    // Two slashes are another path: API Gateway does not collapse them.
    assert_eq!(s.get("/books//", None).await.status, 404);
}

/// The event keeps the raw path; the route key is the route's.
#[test]
fn the_event_keeps_the_raw_path_and_the_route_key() {
    let route = local::routes::ROUTES
        .iter()
        .find(|r| r.method == "GET" && r.path == "/books")
        .unwrap();
    let incoming = local::gateway::Incoming {
        method: http::Method::GET,
        uri: "/books/?limit=2".parse().unwrap(),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
        path_params: BTreeMap::new(),
        peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
    };
    let event = local::gateway::integration_event(route, &incoming, "r1", None);
    assert_eq!(event["rawPath"], "/books/");
    assert_eq!(event["routeKey"], "GET /books");
    assert_eq!(event["requestContext"]["http"]["path"], "/books/");
    assert_eq!(event["rawQueryString"], "limit=2");
}
