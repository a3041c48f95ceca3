//! Sign-up and login, black-box through the local server.

mod common;

use common::{PASSWORD, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn signup_returns_the_public_user_and_never_the_hash() {
    let s = TestServer::start().await;
    let a = s
        .post(
            "/auth/signup",
            json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "name": " Ada ", "surname": "Lovelace",
                   "username": "ada_l", "date_of_birth": "1990-12-10"}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["email"], "ada@example.com");
    assert_eq!(a.body["name"], "Ada");
    assert_eq!(a.body["username"], "ada_l");
    assert_eq!(a.body["date_of_birth"], "1990-12-10");
    assert_eq!(a.body["role"], "user");
    assert_eq!(a.body["active"], true);
    assert!(!a.text.contains("argon2") && !a.text.contains("password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn register_is_an_alias_of_signup() {
    let s = TestServer::start().await;
    let a = s
        .post(
            "/auth/register",
            json!({"email": "g@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let again = s
        .post(
            "/auth/signup",
            json!({"email": "G@example.com", "password": PASSWORD}),
        )
        .await;
    again.problem(409);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_rule_is_reported_by_field() {
    let s = TestServer::start().await;
    let cases = [
        (json!({"password": PASSWORD}), "email"),
        (json!({"email": "", "password": PASSWORD}), "email"),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (json!({"email": "a@b", "password": PASSWORD}), "email"),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "password": PASSWORD}),
            "email",
        ),
        (json!({"email": 42, "password": PASSWORD}), "email"),
        (json!({"email": "a@example.com"}), "password"),
        (
            json!({"email": "a@example.com", "password": "short1!"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "password123"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "qwertyuiop"}),
            "password",
        ),
        (
            json!({"email": "lovelace1815@example.com", "password": "lovelace1815"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "   "}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "surname": "x".repeat(101)}),
            "surname",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "username": "ab"}),
            "username",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "username": "has space"}),
            "username",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "date_of_birth": "2999-01-01"}),
            "date_of_birth",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "date_of_birth": "1990-02-30"}),
            "date_of_birth",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "date_of_birth": "10/12/1990"}),
            "date_of_birth",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "date_of_birth": "1850-01-01"}),
            "date_of_birth",
        ),
    ];
    for (body, field) in cases {
        let a = s.post("/auth/signup", body.clone()).await;
        assert_eq!(a.fields(), vec![field.to_owned()], "{body}");
    }
    // All problems at once, not one at a time.
    let a = s
        .post(
            "/auth/signup",
            json!({"email": "x", "password": "1", "username": "!"}),
        )
        .await;
    assert_eq!(a.fields(), vec!["email", "username", "password"]);
    // Nothing was written by any of them.
    let ok = s
        .post(
            "/auth/signup",
            json!({"email": "a@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_are_taken_exactly_as_typed() {
    let s = TestServer::start().await;
    let padded = format!("  {PASSWORD}  ");
    let a = s
        .post(
            "/auth/signup",
            json!({"email": "p@example.com", "password": padded}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    s.login("p@example.com", PASSWORD).await.problem(401);
    s.login("p@example.com", &PASSWORD.to_uppercase())
        .await
        .problem(401);
    assert_eq!(s.login("p@example.com", &padded).await.status, 200);
    let long = "correct horse battery staple ".repeat(4) + "zebra";
    assert!(long.chars().count() <= 128);
    let a = s
        .post(
            "/auth/signup",
            json!({"email": "l@example.com", "password": long}),
        )
        .await;
    assert_eq!(a.status, 201);
    s.login("l@example.com", &long[..long.len() - 1])
        .await
        .problem(401);
    assert_eq!(s.login("l@example.com", &long).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_get_clear_4xx() {
    let s = TestServer::start().await;
    let raw = |body: &'static str, ct: &'static str| {
        s.client
            .post(s.url("/auth/signup"))
            .header("content-type", ct)
            .body(body)
    };
    s.send(raw("{\"email\": ", "application/json"))
        .await
        .problem(400);
    s.send(raw("[1,2]", "application/json")).await.problem(400);
    s.send(raw("", "application/json")).await.problem(400);
    s.send(raw("email=a", "text/plain")).await.problem(415);
    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(70 * 1024));
    s.send(
        s.client
            .post(s.url("/auth/signup"))
            .header("content-type", "application/json")
            .body(big),
    )
    .await
    .problem(413);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_emails_in_any_case_conflict() {
    let s = TestServer::start().await;
    s.signup("dup@example.com").await;
    for variant in ["dup@example.com", "DUP@example.com", " Dup@Example.Com "] {
        let a = s
            .post(
                "/auth/signup",
                json!({"email": variant, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            a.problem(409)["detail"],
            "An account with this email already exists."
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_usernames_conflict_regardless_of_case() {
    let s = TestServer::start().await;
    let a = s
        .post(
            "/auth/signup",
            json!({"email": "u1@example.com", "password": PASSWORD, "username": "Neo"}),
        )
        .await;
    assert_eq!(a.status, 201);
    let b = s
        .post(
            "/auth/signup",
            json!({"email": "u2@example.com", "password": PASSWORD, "username": "neo"}),
        )
        .await;
    assert_eq!(b.problem(409)["detail"], "This username is taken.");
    // The failed sign-up left no email claim behind.
    let c = s
        .post(
            "/auth/signup",
            json!({"email": "u2@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_signups_with_one_email_create_one_account() {
    let s = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = s.client.clone();
        let url = s.url("/auth/signup");
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_accepts_json_and_the_oauth2_form() {
    let s = TestServer::start().await;
    s.signup("f@example.com").await;
    let a = s.login("F@Example.com", PASSWORD).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 900);
    assert_eq!(a.headers["cache-control"], "no-store");
    let form = [
        ("username", "f@example.com"),
        ("password", PASSWORD),
        ("grant_type", "password"),
    ];
    let b = s
        .send(s.client.post(s.url("/auth/login")).form(&form))
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert!(b.body["access_token"].as_str().unwrap().split('.').count() == 3);
    let bad_grant = [
        ("username", "f@example.com"),
        ("password", PASSWORD),
        ("grant_type", "client_credentials"),
    ];
    let c = s
        .send(s.client.post(s.url("/auth/login")).form(&bad_grant))
        .await;
    assert_eq!(c.fields(), vec!["grant_type"]);
    let d = s
        .post("/auth/login", json!({"email": "f@example.com"}))
        .await;
    assert_eq!(d.fields(), vec!["password"]);
    let e = s
        .send(
            s.client
                .post(s.url("/auth/login"))
                .form(&[("password", PASSWORD)]),
        )
        .await;
    assert_eq!(e.fields(), vec!["username"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_and_refresh_read_json_as_every_other_endpoint_does() {
    // One body reader: `application/*+json` is JSON here as in every other
    // endpoint (login and refresh once answered 415), and another type is 415.
    let s = TestServer::start().await;
    s.signup("g@example.com").await;
    let typed = |path: &str, media: &str, body: serde_json::Value| {
        s.client
            .post(s.url(path))
            .header("content-type", media)
            .body(body.to_string())
    };
    let login = json!({"email": "g@example.com", "password": PASSWORD});
    let a = s
        .send(typed(
            "/auth/login",
            "application/vnd.example+json",
            login.clone(),
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let refresh = json!({"refresh_token": a.body["refresh_token"]});
    let b = s
        .send(typed(
            "/auth/refresh",
            "application/vnd.example+json; charset=utf-8",
            refresh.clone(),
        ))
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
    for (path, body) in [("/auth/login", login), ("/auth/refresh", refresh)] {
        let c = s.send(typed(path, "text/plain", body)).await;
        assert_eq!(c.status, 415, "{path}: {}", c.text);
        assert_eq!(c.headers["content-type"], "application/problem+json");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_unknown_email_and_deactivated_look_the_same() {
    let s = TestServer::start().await;
    s.signup("known@example.com").await;
    s.signup("gone@example.com").await;
    let state = &s.running.state;
    let email = shared::domain::Email::parse("gone@example.com").unwrap();
    let mut user = state.users.find_by_email(&email).await.unwrap().unwrap();
    user.active = false;
    state.users.save(&user).await.unwrap().unwrap();

    let wrong = s
        .login("known@example.com", "not the password at all")
        .await;
    let unknown = s.login("nobody@example.com", PASSWORD).await;
    let malformed = s.login("not an email", PASSWORD).await;
    let deactivated = s.login("gone@example.com", PASSWORD).await;
    for a in [&wrong, &unknown, &malformed, &deactivated] {
        a.problem(401);
        assert_eq!(a.text, wrong.text);
        assert_eq!(a.headers["www-authenticate"], "Bearer");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_bootstrap_needs_a_verified_listed_address() {
    let s = TestServer::start_with(|mut c| {
        c.admin_emails = vec!["boss@example.com".into()];
        c
    })
    .await;
    let first = s.signup("first@example.com").await;
    assert_eq!(first["role"], "user");
    // Listed, but not yet proven: a user like any other.
    let boss = s.signup("Boss@example.com").await;
    assert_eq!(boss["role"], "user");
    let token = s.user_token_of("boss@example.com").await;
    let me = s.get("/users/me", Some(&token)).await;
    assert_eq!(
        (
            me.body["role"].as_str(),
            me.body["email_verified"].as_bool()
        ),
        (Some("user"), Some(false))
    );
    assert_eq!(s.get("/admin/users", Some(&token)).await.status, 403);
    s.verify("boss@example.com").await;
    let token = s.user_token_of("boss@example.com").await;
    let me = s.get("/users/me", Some(&token)).await;
    assert_eq!(
        (
            me.body["role"].as_str(),
            me.body["email_verified"].as_bool()
        ),
        (Some("admin"), Some(true))
    );
    assert_eq!(s.get("/admin/users", Some(&token)).await.status, 200);
    // A listed address that is not verified grants nothing, however it came.
    let first_token = s.user_token_of("first@example.com").await;
    assert_eq!(s.get("/admin/users", Some(&first_token)).await.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn old_hashes_are_upgraded_at_login() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let s = TestServer::start().await;
    s.signup("old@example.com").await;
    let state = &s.running.state;
    let email = shared::domain::Email::parse("old@example.com").unwrap();
    let mut user = state.users.find_by_email(&email).await.unwrap().unwrap();
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    );
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    user.password_hash = weak
        .hash_password(PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    state.users.save(&user).await.unwrap().unwrap();
    assert_eq!(s.login("old@example.com", PASSWORD).await.status, 200);
    let upgraded = state.users.find_by_email(&email).await.unwrap().unwrap();
    assert!(
        upgraded
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        upgraded.password_hash
    );
    assert_eq!(s.login("old@example.com", PASSWORD).await.status, 200);
}
