//! No input makes a handler panic or answer 5xx: arbitrary bodies, media
//! types, path values and query strings go through the same event parsing
//! and validation as on Lambda, for every route (with a caller context on
//! protected routes, as the authorizer would give).

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::{AppState, Config};

struct World {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    state: Arc<AppState>,
    _posts: local::sample_posts::SamplePosts,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path());
        config.login_max_failures_per_account = u32::MAX;
        config.login_max_failures_per_ip = u32::MAX;
        let posts = rt
            .block_on(local::sample_posts::SamplePosts::start())
            .unwrap();
        config.posts_api_url = Some(posts.url());
        let state = rt.block_on(AppState::build(config)).unwrap();
        World {
            _dir: dir,
            rt,
            state,
            _posts: posts,
        }
    })
}

fn event(
    route: &local::routes::Route,
    body: &[u8],
    content_type: &str,
    param: &str,
    query: &str,
) -> Value {
    let path = route.path.replace("{id}", param);
    let mut e = json!({
        "version": "2.0", "routeKey": format!("{} {}", route.method, route.path), "rawPath": path,
        "rawQueryString": query, "headers": {"content-type": content_type, "if-match": format!("\"v{}\"", param.len())},
        "pathParameters": {"id": param},
        "requestContext": {"http": {"method": route.method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "proptest"},
            "routeKey": format!("{} {}", route.method, route.path), "stage": "$default", "requestId": "p", "timeEpoch": 0},
        "isBase64Encoded": false,
    });
    match std::str::from_utf8(body) {
        Ok(text) => e["body"] = json!(text),
        Err(_) => {
            use base64::Engine;
            e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
            e["isBase64Encoded"] = json!(true);
        }
    }
    if route.protected {
        e["requestContext"]["authorizer"] = json!({"lambda": {"user_id": param, "email": "p@example.com", "role": "admin", "session_id": param}});
    }
    e
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "\\PC{0,200}".prop_map(String::into_bytes),
        // Structurally plausible JSON with hostile values.
        (any::<String>(), any::<String>(), any::<i64>(), any::<bool>()).prop_map(|(a, b, n, t)| {
            json!({"email": a, "password": b, "token": n, "refresh_token": t, "name": [a], "role": b,
                   "date_of_birth": n, "username": {"x": t}, "version": a, "current_password": null, "bio": n})
                .to_string()
                .into_bytes()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_route_panics_or_answers_5xx(
        body in bodies(),
        content_type in prop_oneof![Just("application/json".to_owned()), Just("application/x-www-form-urlencoded".to_owned()), "[ -~]{0,40}"],
        param in "\\PC{0,80}",
        query in "[a-z_=&%0-9A-F]{0,60}",
    ) {
        let w = world();
        for route in local::routes::ROUTES {
            let e = event(route, &body, &content_type, &param, &query);
            let request: lambda_http::request::LambdaRequest = serde_json::from_value(e).unwrap();
            let handle = local::routes::handler(route.function).unwrap();
            let response = w.rt.block_on(handle(w.state.clone(), request.into()));
            prop_assert!(response.status().as_u16() < 500, "{} {} answered {}", route.method, route.path, response.status());
        }
    }
}
