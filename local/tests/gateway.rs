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

/// Every JSON path of `v` (`requestContext.http.method`, …), arrays as `[]`.
fn paths(v: &serde_json::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                // Header names and path parameters are data, not shape.
                if ["headers", "pathParameters", "queryStringParameters"].contains(&prefix) {
                    out.insert(format!("{prefix}.*"));
                    continue;
                }
                out.insert(path.clone());
                paths(child, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// A request with what clients send (mixed-case headers, two cookies, a
/// repeated query key, a path parameter, a binary body) becomes the event
/// API Gateway sends: the same fields as the `events/` sample of that kind
/// of request, and the values API Gateway would put in them.
#[test]
fn the_event_matches_api_gateway_field_by_field() {
    let route = local::routes::ROUTES
        .iter()
        .find(|r| r.method == "PATCH" && r.path == "/tasks/{id}")
        .unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("Content-Type", "application/octet-stream".parse().unwrap());
    headers.insert("X-Custom-Thing", "One".parse().unwrap());
    headers.append("Accept", "text/plain".parse().unwrap());
    headers.append("Accept", "application/json".parse().unwrap());
    headers.insert("Cookie", "a=1; b=two".parse().unwrap());
    headers.insert("Host", "127.0.0.1:3000".parse().unwrap());
    headers.insert("User-Agent", "curl/8.5.0".parse().unwrap());
    headers.insert("X-Forwarded-For", "198.51.100.9".parse().unwrap());
    headers.insert("Authorization", "Bearer x".parse().unwrap());
    let incoming = local::gateway::Incoming {
        method: http::Method::PATCH,
        uri: "/api/v1/tasks/t1?tag=a&tag=b&q=x%20y".parse().unwrap(),
        headers,
        body: bytes::Bytes::from_static(&[0, 159, 146, 150]),
        path_params: BTreeMap::from([("id".to_owned(), "t1".to_owned())]),
        peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
    };
    let context =
        json!({"user_id": "u1", "email": "a@example.com", "role": "user", "session_id": "s1"});
    let event = local::gateway::integration_event(route, &incoming, "r1", Some(&context));

    // The same shape as the sample of a protected request with a body.
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/tasks-crud.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let (mut ours, mut theirs) = (Default::default(), Default::default());
    paths(&event, "", &mut ours);
    paths(&sample, "", &mut theirs);
    // The sample has no cookies or query; ours has no fields the sample lacks otherwise.
    let extra: Vec<_> = ours
        .difference(&theirs)
        .filter(|p| {
            !["cookies", "queryStringParameters", "pathParameters"]
                .iter()
                .any(|f| p.starts_with(f))
        })
        .collect();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "extra {extra:?}, missing {missing:?}"
    );

    // And it is what aws_lambda_events reads, value by value.
    let typed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
        serde_json::from_value(event.clone()).unwrap();
    assert_eq!(typed.raw_path.as_deref(), Some("/api/v1/tasks/t1"));
    assert_eq!(typed.route_key.as_deref(), Some("PATCH /tasks/{id}"));
    assert_eq!(
        typed.raw_query_string.as_deref(),
        Some("tag=a&tag=b&q=x%20y")
    );
    // Repeated keys: one value, joined with commas (payload 2.0).
    assert_eq!(event["queryStringParameters"]["tag"], "a,b");
    assert_eq!(event["queryStringParameters"]["q"], "x y");
    // Header names in lower case; repeated headers joined with commas;
    // cookies moved out of the headers into `cookies`.
    let names: Vec<&str> = typed.headers.keys().map(|k| k.as_str()).collect();
    assert!(names.iter().all(|n| *n == n.to_lowercase()), "{names:?}");
    assert_eq!(event["headers"]["accept"], "text/plain,application/json");
    assert_eq!(event["headers"]["x-custom-thing"], "One");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(
        typed.cookies,
        Some(vec!["a=1".to_owned(), "b=two".to_owned()])
    );
    // API Gateway appends the caller's address to X-Forwarded-For and sets
    // the port and protocol it was reached on.
    assert_eq!(
        event["headers"]["x-forwarded-for"],
        "198.51.100.9, 127.0.0.1"
    );
    assert_eq!(event["headers"]["x-forwarded-port"], "3000");
    assert_eq!(event["headers"]["x-forwarded-proto"], "http");
    // A binary body arrives base64-encoded.
    assert!(typed.is_base64_encoded);
    assert_eq!(typed.body.as_deref(), Some("AJ+Slg=="));
    let ctx = &typed.request_context;
    assert_eq!(ctx.stage.as_deref(), Some("$default"));
    assert_eq!(ctx.domain_name.as_deref(), Some("127.0.0.1:3000"));
    assert_eq!(ctx.http.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(ctx.http.path.as_deref(), Some("/api/v1/tasks/t1"));
    assert_eq!(
        ctx.authorizer
            .as_ref()
            .and_then(|a| a.fields.get("user_id")),
        Some(&json!("u1"))
    );
    assert_eq!(
        typed.path_parameters.get("id").map(String::as_str),
        Some("t1")
    );

    // Without cookies, a query or path parameters, API Gateway leaves those
    // fields out rather than sending them empty.
    let bare = local::gateway::Incoming {
        method: http::Method::GET,
        uri: "/books".parse().unwrap(),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
        path_params: BTreeMap::new(),
        peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
    };
    let books = local::routes::ROUTES
        .iter()
        .find(|r| r.method == "GET" && r.path == "/books")
        .unwrap();
    let event = local::gateway::integration_event(books, &bare, "r2", None);
    for absent in [
        "cookies",
        "queryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ] {
        assert!(event.get(absent).is_none(), "{absent}: {event}");
    }
    assert_eq!(event["isBase64Encoded"], false);
}
