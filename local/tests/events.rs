//! The sample events in `events/` run through the handlers exactly as
//! Lambda would deliver them (JSON → lambda_http request → handler), on the
//! backend `TEST_BACKEND` selects (the test command runs this suite on the
//! embedded adapters and again on moto).

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde_json::Value;
use shared::{AppState, Config};

fn event(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn config(dir: &std::path::Path) -> Config {
    edge::testing::config(edge::testing::selected_backend(), dir).await
}

async fn state() -> (tempfile::TempDir, Arc<AppState>) {
    let dir = tempfile::tempdir().unwrap();
    let state = edge::wiring::build(config(dir.path()).await).await.unwrap();
    (dir, state)
}

async fn run(state: &Arc<AppState>, function: &str, file: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(&event(file)).unwrap();
    let handle = local::routes::handler(function).unwrap();
    let response = handle(state.clone(), request).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_event_runs_through_its_handler() {
    let (_dir, state) = state().await;
    let (status, body) = run(&state, "signup", "signup.json").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["username"], "ada");
    let ada = body["id"].as_str().unwrap().to_owned();
    assert_eq!(run(&state, "signup", "signup.json").await.0, 409);
    assert_eq!(run(&state, "signup", "register.json").await.0, 201);
    let (status, login) = run(&state, "login", "login.json").await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(run(&state, "login", "login-form.json").await.0, 200);
    // A sign-in link's sample token is not one we mailed.
    let (status, problem) = run(&state, "login", "login-link.json").await;
    assert_eq!((status, problem["status"].as_u64()), (400, Some(400)));
    let (status, reset) = run(&state, "account-email", "account-email.json").await;
    assert_eq!(status, 202, "{reset}");
    assert_eq!(reset["message"], account_email::RESET_ACCEPTED);
    // A revert link's sample token is not one we mailed.
    let (status, problem) = run(&state, "account-email", "email-change-revert.json").await;
    assert_eq!((status, problem["status"].as_u64()), (400, Some(400)));
    // The sample tokens are not ours.
    let (status, problem) = run(&state, "validate-token", "validate-token.json").await;
    assert_eq!((status, problem["status"].as_u64()), (401, Some(401)));
    assert_eq!(run(&state, "refresh", "refresh.json").await.0, 401);
    let (status, jwks) = run(&state, "jwks", "jwks.json").await;
    assert_eq!(status, 200);
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    let (status, oidc) = run(&state, "jwks", "openid-configuration.json").await;
    assert_eq!(status, 200);
    assert!(
        oidc["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json")
    );
    let (status, health) = run(&state, "health", "health.json").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, me) = run(&state, "auth-me", "auth-me.json").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "ada@example.com");
    // The protected samples, with the authorizer context pointing at Ada.
    let as_ada = |file: &str| {
        let mut e: Value = serde_json::from_str(&event(file)).unwrap();
        e["requestContext"]["authorizer"]["lambda"]["user_id"] = Value::String(ada.clone());
        lambda_http::request::from_str(&e.to_string()).unwrap()
    };
    let call = |function: &str, req| local::routes::handler(function).unwrap()(state.clone(), req);
    let me = call("users-me", as_ada("users-me.json")).await;
    assert_eq!(me.status(), 200);
    assert!(me.headers().contains_key("etag"));
    assert_eq!(
        call("sessions", as_ada("sessions.json")).await.status(),
        200
    );
    assert_eq!(call("admin", as_ada("admin.json")).await.status(), 200);
    // The shop samples: the order's book exists in the catalog first.
    let (status, books) = run(&state, "books", "books.json").await;
    assert_eq!(
        (status, books["items"].clone()),
        (200, serde_json::json!([]))
    );
    let mut book = shared::domain::Book::new(
        shared::domain::BookTitle::parse("Sample").unwrap(),
        shared::domain::Author::parse("Someone").unwrap(),
        None,
        1200,
        1,
    );
    book.id = "01936f3e-7a10-7c3b-9a51-0c0ffeeb0001".into();
    state.shop.create_book(&book).await.unwrap();
    let order = call("orders", as_ada("orders.json")).await;
    assert_eq!(order.status(), 201);
    assert_eq!(call("orders", as_ada("orders.json")).await.status(), 409);
    let pdf = call("pdf-generate", as_ada("pdf-generate.json")).await;
    assert_eq!(pdf.status(), 201);
    // The old services' calls (README: migration), by their own samples.
    let download = call("pdf-generate", as_ada("pdf-download.json")).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert!(matches!(download.body(), lambda_http::Body::Binary(b) if b.starts_with(b"%PDF-")));
    let text = |r: &lambda_http::Response<lambda_http::Body>| match r.body() {
        lambda_http::Body::Text(t) => serde_json::from_str::<Value>(t).unwrap(),
        _ => Value::Null,
    };
    let put = call("users-me", as_ada("users-me-put.json")).await;
    assert_eq!(
        (put.status().as_u16(), text(&put)["bio"].clone()),
        (200, "Analyst of engines.".into())
    );
    let created = call("users-me", as_ada("users-createprofile.json")).await;
    let created = text(&created);
    assert_eq!(
        (created["date_of_birth"].as_str(), created["bio"].as_str()),
        (Some("1990-12-10"), Some("Analyst of engines.")),
        "set, the rest kept"
    );
    let under_base_path = call("users-me", as_ada("profile-me.json")).await;
    assert_eq!(text(&under_base_path)["date_of_birth"], "1990-12-10");
    let cleared = call("users-me", as_ada("users-deleteprofile.json")).await;
    let cleared = text(&cleared);
    assert_eq!(
        (
            cleared["name"].clone(),
            cleared["bio"].clone(),
            cleared["email"].as_str()
        ),
        (Value::Null, Value::Null, Some("ada@example.com")),
        "cleared; the account stays"
    );
    assert_eq!(
        call("media-upload", as_ada("media-avatar.json"))
            .await
            .status(),
        404,
        "no avatar yet"
    );
    let docs = call(
        "api-docs",
        lambda_http::request::from_str(&event("api-docs.json")).unwrap(),
    )
    .await;
    assert_eq!(docs.status(), 200);
    // The page a verification mail links to, with its policy.
    let page = call(
        "web",
        lambda_http::request::from_str(&event("web.json")).unwrap(),
    )
    .await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let lambda_http::Body::Text(html) = page.body() else {
        panic!("the page is text")
    };
    assert!(html.contains(r#"<body data-page="verify-email">"#));
    let task = call("tasks-crud", as_ada("tasks-crud.json")).await;
    assert_eq!(task.status(), 201);
    assert!(
        task.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/tasks/")
    );
    // The sample carries an Idempotency-Key: sent again, it is answered
    // the same, and the list below holds one task.
    let again = call("tasks-crud", as_ada("tasks-crud.json")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], task.headers()["location"]);
    let (_, tasks) = {
        let mut e: Value = serde_json::from_str(&event("tasks-crud.json")).unwrap();
        e["requestContext"]["authorizer"]["lambda"]["user_id"] = Value::String(ada.clone());
        for k in ["routeKey", "rawPath"] {
            e[k] = Value::String(
                if k == "routeKey" {
                    "GET /tasks"
                } else {
                    "/tasks"
                }
                .into(),
            );
        }
        e["requestContext"]["routeKey"] = Value::String("GET /tasks".into());
        e["requestContext"]["http"]["method"] = Value::String("GET".into());
        e.as_object_mut().unwrap().remove("body");
        let response = call(
            "tasks-crud",
            lambda_http::request::from_str(&e.to_string()).unwrap(),
        )
        .await;
        let body = match response.body() {
            lambda_http::Body::Text(t) => serde_json::from_str::<Value>(t).unwrap(),
            _ => Value::Null,
        };
        (response.status(), body)
    };
    assert_eq!(tasks["items"].as_array().map(Vec::len), Some(1), "{tasks}");
    assert_eq!(tasks["items"][0]["title"], "Write the quarterly report");
    assert_eq!(tasks["items"][0]["status"], "todo");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_posts_sample_runs_against_the_built_in_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = local::sample_posts::SamplePosts::start().await.unwrap();
    let mut config = config(dir.path()).await;
    config.posts_api_url = Some(upstream.url());
    let state = edge::wiring::build(config).await.unwrap();
    let (status, page) = run(&state, "posts", "posts.json").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (page["page"].as_u64(), page["per_page"].as_u64()),
        (Some(2), Some(5))
    );
    let matches = page["total"].as_u64().unwrap();
    assert!(
        matches > 5,
        "the sample's search matches more than a page: {page}"
    );
    for post in page["items"].as_array().unwrap() {
        let text = format!("{} {}", post["title"], post["body"]).to_lowercase();
        assert!(text.contains("lambda"), "{post}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_avatar_samples_run_through_their_handlers() {
    let (_dir, state) = state().await;
    let (status, ada) = run(&state, "signup", "signup.json").await;
    assert_eq!(status, 201, "{ada}");
    let ada = ada["id"].as_str().unwrap().to_owned();
    // A PNG body, base64-encoded by API Gateway, as Ada.
    let mut e: Value = serde_json::from_str(&event("media-upload.json")).unwrap();
    e["requestContext"]["authorizer"]["lambda"]["user_id"] = Value::String(ada.clone());
    let request = lambda_http::request::from_str(&e.to_string()).unwrap();
    let response = local::routes::handler("media-upload").unwrap()(state.clone(), request).await;
    assert_eq!(response.status(), 200);
    assert!(
        state
            .users
            .get(&ada)
            .await
            .unwrap()
            .unwrap()
            .avatar
            .is_some()
    );

    // The S3 notification of a presigned upload of the same PNG, for Ada.
    let mut e: Value = serde_json::from_str(&event("media-process.json")).unwrap();
    let key = format!("uploads/{ada}/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9");
    e["Records"][0]["s3"]["object"]["key"] = Value::String(key.clone());
    let png = {
        use base64::Engine;
        let sample: Value = serde_json::from_str(&event("media-upload.json")).unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(sample["body"].as_str().unwrap())
            .unwrap()
    };
    state
        .avatars
        .save_upload_record(
            &ada,
            &shared::avatars::UploadRecord {
                key: key.clone(),
                content_type: "image/png".into(),
                content_length: png.len() as u64,
                status: shared::avatars::UploadStatus::Pending,
                reason: None,
            },
        )
        .await
        .unwrap();
    state
        .blobs
        .put(
            &key,
            png.into(),
            &shared::ports::Served::upload("image/png"),
        )
        .await
        .unwrap();
    let avatar_of_ada = || async { state.users.get(&ada).await.unwrap().unwrap().avatar };
    let before = avatar_of_ada().await.unwrap();
    media_process::handle(state.clone(), serde_json::from_value(e).unwrap())
        .await
        .unwrap();
    let after = avatar_of_ada().await.unwrap();
    assert_ne!(before.id, after.id, "the upload became the avatar");
    assert_eq!(
        state.blobs.get(&key).await.unwrap(),
        None,
        "the upload is gone"
    );
    assert!(state.avatars.upload_record(&ada).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorizer_allows_real_tokens_and_denies_the_rest() {
    let (_dir, state) = state().await;
    let sample: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_str(&event("authorizer.json")).unwrap();
    let denied = validate_token::authorize(&state, &sample).await.unwrap();
    assert!(!denied.is_authorized);
    assert_eq!(
        serde_json::to_value(&denied).unwrap(),
        serde_json::json!({"isAuthorized": false})
    );

    // A real token: sign up and log in through the sample events.
    assert_eq!(run(&state, "signup", "signup.json").await.0, 201);
    let (status, login) = run(&state, "login", "login.json").await;
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap().to_owned();
    let claims = state.tokens.verify(&token).unwrap();
    let mut event: Value = serde_json::from_str(&event("authorizer.json")).unwrap();
    event["identitySource"] = serde_json::json!([format!("Bearer {token}")]);
    let event: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_value(event).unwrap();
    let allowed = validate_token::authorize(&state, &event).await.unwrap();
    assert_eq!(
        serde_json::to_value(&allowed).unwrap(),
        serde_json::json!({"isAuthorized": true, "context": {
            "user_id": claims.sub, "email": "ada@example.com", "role": "user", "session_id": claims.sid}})
    );

    // Without identitySource the header is read; a non-Bearer scheme is denied.
    let mut event: Value = serde_json::from_str(&event_text()).unwrap();
    event.as_object_mut().unwrap().remove("identitySource");
    event["headers"]["authorization"] = Value::String(format!("Token {token}"));
    let event: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_value(event).unwrap();
    assert!(
        !validate_token::authorize(&state, &event)
            .await
            .unwrap()
            .is_authorized
    );
}

/// A store failure is not a "deny": API Gateway would cache a deny for the
/// cache TTL. The authorizer fails instead (API Gateway answers 500).
#[tokio::test(flavor = "multi_thread")]
async fn the_authorizer_fails_rather_than_denies_when_the_store_fails() {
    let (_dir, state) = state().await;
    assert_eq!(run(&state, "signup", "signup.json").await.0, 201);
    let (_, login) = run(&state, "login", "login.json").await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let mut event: Value = serde_json::from_str(&event_text()).unwrap();
    event["identitySource"] = serde_json::json!([format!("Bearer {token}")]);
    let event: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_value(event).unwrap();
    let faults = edge::faults::Faults::new();
    let faulty = edge::wiring::with_faults(&state, &faults);
    faults.arm(edge::faults::Plan::Every("store.get"), Default::default());
    assert!(validate_token::authorize(&faulty, &event).await.is_err());
    // A forged token (our key id and claims, a wrong signature) is decided
    // by its signature before any read: denied, not a failed invocation,
    // even while the store is down.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bad: Vec<char> = signature.chars().collect();
    bad[10] = if bad[10] == 'A' { 'B' } else { 'A' };
    let forged = format!("{signed}.{}", bad.into_iter().collect::<String>());
    let mut forged_event = event.clone();
    forged_event.identity_source = Some(vec![format!("Bearer {forged}")]);
    let answer = validate_token::authorize(&faulty, &forged_event)
        .await
        .unwrap();
    assert!(!answer.is_authorized);
    faults.disarm();
    assert!(
        !validate_token::authorize(&faulty, &forged_event)
            .await
            .unwrap()
            .is_authorized
    );
    assert!(
        validate_token::authorize(&faulty, &event)
            .await
            .unwrap()
            .is_authorized
    );
}

fn event_text() -> String {
    event("authorizer.json")
}

#[test]
fn every_function_has_a_sample_event() {
    let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut functions: Vec<&str> = local::routes::ROUTES.iter().map(|r| r.function).collect();
    functions.extend(["authorizer", "user-events", "outbox-relay", "media-process"]);
    for f in functions {
        assert!(
            names.iter().any(|n| n == &format!("{f}.json")),
            "events/{f}.json is missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_and_queue_samples_run_through_their_handlers() {
    let (_dir, state) = state().await;
    let sqs: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_str(&event("user-events.json")).unwrap();
    let response = user_events::handle(state.clone(), sqs).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the sample's poison message"
    );
    let _schedule: serde_json::Value = serde_json::from_str(&event("outbox-relay.json")).unwrap();
    assert_eq!(outbox_relay::run(&state).await.unwrap()["sent"], 0);
}

/// The moto pass of the test command really runs these samples on moto.
#[tokio::test(flavor = "multi_thread")]
async fn the_samples_run_on_the_selected_backend() {
    let (_dir, state) = state().await;
    // From the variable itself, not from the parse under test.
    let expected = match std::env::var("TEST_BACKEND").as_deref() {
        Ok("aws") => shared::config::Backend::Aws,
        _ => shared::config::Backend::Embedded,
    };
    assert_eq!(state.config.backend, expected);
}
