//! Each route is declared once, in the local route table (`local/src/routes.rs`);
//! the other places a route lives are checked against it: `template.yaml`
//! (`template.rs`), the OpenAPI document (`openapi.rs`), and here the
//! `match route_key` of each function: every route of the table reaches an
//! arm of its function's match, and a route its function does not serve
//! falls to the "no such route" answer, never to a handler.

use std::sync::Arc;

use local::api_event::ApiEvent;
use local::routes::{ROUTES, handler};
use serde_json::{Value, json};
use shared::AppState;

/// The problem type a function answers for a route key its match lacks.
const NO_ROUTE: &str = "no-route";

/// A concrete path for a route: each `{param}` filled with a made-up id.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| {
            if part.starts_with('{') {
                "0190a1b2-0000-7000-8000-000000000001"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A state with one signed-in administrator, and the authorizer context
/// its requests carry: every arm is reached as a real caller would reach
/// it, past the account lookup some functions do before their match.
async fn signed_in() -> (tempfile::TempDir, Arc<AppState>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let email = "routes@example.com";
    let password = "a long and unusual passphrase 7";
    let state = edge::wiring::build(shared::Config::embedded(dir.path()))
        .await
        .unwrap();
    let credentials = json!({"email": email, "password": password});
    let signup = ApiEvent::new("POST", "/auth/signup")
        .json(&credentials)
        .request();
    assert_eq!(signup::handle(state.clone(), signup).await.status(), 201);
    let log_in = || async {
        let login = ApiEvent::new("POST", "/auth/login")
            .json(&credentials)
            .request();
        let answer = login::handle(state.clone(), login).await;
        assert_eq!(answer.status(), 200);
        let tokens: Value = serde_json::from_slice(answer.body()).unwrap();
        state
            .tokens
            .verify(tokens["access_token"].as_str().unwrap())
            .unwrap()
    };
    // An administrator, so the admin routes reach their arms too.
    let mut user = state.users.get(&log_in().await.sub).await.unwrap().unwrap();
    user.role = shared::domain::Role::Admin;
    state.users.save(&user).await.unwrap().unwrap();
    let claims = log_in().await;
    let context = json!({"user_id": claims.sub, "email": claims.email, "role": claims.role, "session_id": claims.sid});
    assert_eq!(context["role"], "admin");
    (dir, state, context)
}

/// The problem type of an answer, if it is a problem.
async fn problem_type(state: &Arc<AppState>, function: &str, event: Value) -> Option<String> {
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
    let answer = handler(function).expect("an HTTP function")(state.clone(), request).await;
    let body = match answer.body() {
        lambda_http::Body::Text(t) => t.as_bytes().to_vec(),
        lambda_http::Body::Binary(b) => b.clone(),
        lambda_http::Body::Empty => Vec::new(),
        _ => Vec::new(),
    };
    let problem: Value = serde_json::from_slice(&body).ok()?;
    Some(problem["type"].as_str()?.rsplit('/').next()?.to_owned())
}

/// The functions whose handler serves several routes by their route key.
fn dispatching_functions() -> Vec<&'static str> {
    let mut functions: Vec<&str> = ROUTES.iter().map(|r| r.function).collect();
    functions.sort();
    functions.dedup();
    functions.retain(|f| ROUTES.iter().filter(|r| r.function == *f).count() > 1);
    functions
}

#[tokio::test]
async fn every_route_reaches_an_arm_of_its_function() {
    let (_dir, state, caller) = signed_in().await;
    let mut checked = 0;
    for route in ROUTES {
        let event = ApiEvent::new(route.method, route.path)
            .at(&concrete(route.path))
            .caller(&caller)
            .to_value();
        let kind = problem_type(&state, route.function, event).await;
        assert_ne!(
            kind.as_deref(),
            Some(NO_ROUTE),
            "{} {} is in the route table, but {}'s match has no arm for it",
            route.method,
            route.path,
            route.function
        );
        checked += 1;
    }
    assert_eq!(checked, ROUTES.len());
}

#[tokio::test]
async fn a_route_a_function_does_not_serve_is_no_route() {
    let (_dir, state, caller) = signed_in().await;
    let functions = dispatching_functions();
    assert!(functions.len() >= 8, "{functions:?}");
    for function in functions {
        let route = ROUTES.iter().find(|r| r.function == function).unwrap();
        let mut event = ApiEvent::new(route.method, route.path)
            .at(&concrete(route.path))
            .caller(&caller)
            .to_value();
        let unknown = json!(format!("{} /no/such/route", route.method));
        event["routeKey"] = unknown.clone();
        event["requestContext"]["routeKey"] = unknown;
        let kind = problem_type(&state, function, event).await;
        assert_eq!(
            kind.as_deref(),
            Some(NO_ROUTE),
            "{function} answered a route key it does not serve with {kind:?}"
        );
    }
}
