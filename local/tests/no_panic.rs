//! No input makes a handler panic or answer 5xx: arbitrary bodies, media
//! types, path values (random, or ids that exist) and query strings go
//! through the same event parsing and validation as on Lambda, for every
//! route, on both backends. Protected routes get the authorizer context of
//! real signed-up callers (a user and an admin) with live sessions, so the
//! handlers get past "who are you" and read the body.

use std::sync::{Arc, OnceLock};

use edge::testing::TestBackend;
use proptest::prelude::*;
use serde_json::{Value, json};
use shared::AppState;

/// A password zxcvbn rates strong enough.
const PASSWORD: &str = "vivid tundra lantern 47";

struct World {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    state: Arc<AppState>,
    _posts: local::sample_posts::SamplePosts,
    /// Real, signed-up callers (a user and an admin) with live sessions,
    /// so protected handlers get past "who are you" and read the body.
    callers: Vec<Caller>,
    /// Ids that exist: a third user's, a task of the user's, a book.
    real_ids: Vec<String>,
}

#[derive(Clone)]
struct Caller {
    user_id: String,
    session_id: String,
    email: String,
    role: &'static str,
}

const ADMIN: &str = "prop-admin@example.com";

/// One world per backend, built on first use.
fn world(backend: TestBackend) -> &'static World {
    static EMBEDDED: OnceLock<World> = OnceLock::new();
    static AWS: OnceLock<World> = OnceLock::new();
    let cell = match backend {
        TestBackend::Embedded => &EMBEDDED,
        TestBackend::Aws => &AWS,
    };
    cell.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = rt.block_on(edge::testing::config(backend, dir.path()));
        config.login_max_failures_per_account = 1_000_000.into();
        config.login_max_failures_per_ip = 1_000_000.into();
        config.admin_emails = vec![ADMIN.into()];
        let posts = rt
            .block_on(local::sample_posts::SamplePosts::start())
            .unwrap();
        config.posts_api_url = Some(posts.url());
        let state = rt.block_on(edge::wiring::build(config)).unwrap();
        let mut callers = Vec::new();
        // The victim is only ever a path id (an admin may delete it); the
        // callers are never, so the world keeps its callers whatever runs.
        for (email, role) in [
            ("prop-user@example.com", "user"),
            (ADMIN, "admin"),
            ("prop-victim@example.com", "user"),
        ] {
            let body = json!({"email": email, "password": PASSWORD}).to_string();
            let signup = call(&rt, &state, route("POST", "/auth/signup"), &body, None, "");
            assert_eq!(signup.0, 201, "{}", signup.1);
            if role == "admin" {
                // The address is verified through a real token (no
                // consumer runs here to mail one): that makes it admin.
                let user = rt
                    .block_on(state.users.get(signup.1["id"].as_str().unwrap()))
                    .unwrap()
                    .unwrap();
                let (token, writes) = shared::one_time::issue(
                    shared::one_time::Purpose::VerifyEmail,
                    &user,
                    json!({ "email": email }),
                );
                rt.block_on(state.store.transact(writes)).unwrap();
                let verified = call(
                    &rt,
                    &state,
                    route("POST", "/auth/verify-email"),
                    &json!({ "token": token, "password": PASSWORD }).to_string(),
                    None,
                    "",
                );
                assert_eq!(verified.0, 204, "{}", verified.1);
            }
            let login = call(&rt, &state, route("POST", "/auth/login"), &body, None, "");
            assert_eq!(login.0, 200, "{}", login.1);
            let claims = state
                .tokens
                .verify(login.1["access_token"].as_str().unwrap())
                .unwrap();
            callers.push(Caller {
                user_id: claims.sub,
                session_id: claims.sid,
                email: email.into(),
                role,
            });
        }
        let user = callers[0].clone();
        let task = call(
            &rt,
            &state,
            route("POST", "/tasks"),
            &json!({"title": "a real task"}).to_string(),
            Some(&user),
            "",
        );
        assert_eq!(task.0, 201, "{}", task.1);
        let book = call(
            &rt,
            &state,
            route("POST", "/books"),
            &json!({"title": "A Real Book", "author": "Someone", "price_cents": 500, "stock": 1_000_000}).to_string(),
            Some(&callers[1]),
            "",
        );
        assert_eq!(book.0, 201, "{}", book.1);
        let victim = callers.pop().unwrap();
        let real_ids = vec![
            victim.user_id,
            task.1["id"].as_str().unwrap().to_owned(),
            book.1["id"].as_str().unwrap().to_owned(),
        ];
        World {
            _dir: dir,
            rt,
            state,
            _posts: posts,
            callers,
            real_ids,
        }
    })
}

fn route(method: &str, path: &str) -> &'static local::routes::Route {
    local::routes::ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap()
}

/// Runs one route's handler as Lambda would; (status, JSON body).
fn call(
    rt: &tokio::runtime::Runtime,
    state: &Arc<AppState>,
    route: &local::routes::Route,
    body: &str,
    caller: Option<&Caller>,
    param: &str,
) -> (u16, Value) {
    let mut e = event(
        route,
        body.as_bytes(),
        "application/json",
        param,
        "",
        caller,
    );
    e["headers"].as_object_mut().unwrap().remove("if-match");
    let request: lambda_http::request::LambdaRequest = serde_json::from_value(e).unwrap();
    let handle = local::routes::handler(route.function).unwrap();
    let response = rt.block_on(handle(state.clone(), request.into()));
    let body = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (response.status().as_u16(), body)
}

fn event(
    route: &local::routes::Route,
    body: &[u8],
    content_type: &str,
    param: &str,
    query: &str,
    caller: Option<&Caller>,
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
    if let (true, Some(c)) = (route.protected, caller) {
        e["requestContext"]["authorizer"] = json!({"lambda": {"user_id": c.user_id, "email": c.email, "role": c.role, "session_id": c.session_id}});
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

/// Every route, once, with this input; the first answer ≥ 500 fails.
fn every_route(backend: TestBackend, input: &Input) -> Result<(), TestCaseError> {
    let w = world(backend);
    let caller = &w.callers[input.caller % w.callers.len()];
    let param = match input.real_id {
        Some(i) => w.real_ids[i % w.real_ids.len()].clone(),
        None => input.param.clone(),
    };
    for route in local::routes::ROUTES {
        let e = event(
            route,
            &input.body,
            &input.content_type,
            &param,
            &input.query,
            Some(caller),
        );
        let request: lambda_http::request::LambdaRequest = serde_json::from_value(e).unwrap();
        let handle = local::routes::handler(route.function).unwrap();
        let response = w.rt.block_on(handle(w.state.clone(), request.into()));
        prop_assert!(
            response.status().as_u16() < 500,
            "{} {} answered {} (as {})",
            route.method,
            route.path,
            response.status(),
            caller.role
        );
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Input {
    body: Vec<u8>,
    content_type: String,
    param: String,
    real_id: Option<usize>,
    query: String,
    caller: usize,
}

fn inputs() -> impl Strategy<Value = Input> {
    (
        bodies(),
        prop_oneof![
            Just("application/json".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            "[ -~]{0,40}"
        ],
        "\\PC{0,80}",
        proptest::option::of(0usize..3),
        "[a-z_=&%0-9A-F]{0,60}",
        0usize..2,
    )
        .prop_map(
            |(body, content_type, param, real_id, query, caller)| Input {
                body,
                content_type,
                param,
                real_id,
                query,
                caller,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_route_panics_or_answers_5xx_embedded(input in inputs()) {
        every_route(TestBackend::Embedded, &input)?;
    }
}

proptest! {
    // moto answers every call over HTTP: fewer cases, the same properties.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_route_panics_or_answers_5xx_aws(input in inputs()) {
        if !edge::testing::aws_required() {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED no_panic::aws: MOTO_ENDPOINT is unset");
            return Ok(());
        }
        every_route(TestBackend::Aws, &input)?;
    }
}

/// The callers the properties run as are real: their protected routes
/// answer 200, so the random inputs reach the handlers' body parsing.
#[test]
fn the_callers_are_real_users_with_live_sessions() {
    let w = world(TestBackend::Embedded);
    let me = call(
        &w.rt,
        &w.state,
        route("GET", "/users/me"),
        "",
        Some(&w.callers[0]),
        "",
    );
    assert_eq!(me.0, 200, "{}", me.1);
    assert_eq!(me.1["id"], w.callers[0].user_id.as_str());
    let task = call(
        &w.rt,
        &w.state,
        route("POST", "/tasks"),
        &json!({"title": "mine"}).to_string(),
        Some(&w.callers[0]),
        "",
    );
    assert_eq!(task.0, 201, "{}", task.1);
    let task = call(
        &w.rt,
        &w.state,
        route("PATCH", "/tasks/{id}"),
        &json!({"status": "done"}).to_string(),
        Some(&w.callers[0]),
        task.1["id"].as_str().unwrap(),
    );
    assert_eq!(task.0, 200, "{}", task.1);
    let users = call(
        &w.rt,
        &w.state,
        route("GET", "/admin/users"),
        "",
        Some(&w.callers[1]),
        "",
    );
    assert_eq!(users.0, 200, "{}", users.1);
}
