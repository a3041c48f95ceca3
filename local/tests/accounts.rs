//! Accounts, black-box through the local server (on the backend
//! `TEST_BACKEND` selects): refresh rotation and reuse detection, sessions,
//! logout, password change, profiles, admin, rate limits, deletion, audit.

mod common;

use std::time::Duration;

use common::{Answer, PASSWORD, TestServer};
use serde_json::{Value, json};
use shared::Config;

const ADMIN: &str = "root@example.com";

async fn server() -> TestServer {
    server_with(|c| c).await
}

async fn server_with(adjust: impl FnOnce(Config) -> Config) -> TestServer {
    TestServer::start_with(|mut c| {
        c.admin_emails = vec![ADMIN.into()];
        adjust(c)
    })
    .await
}

/// Signs up the `ADMIN` address, verifies it (which makes it admin) and
/// logs in; returns the whole token answer.
async fn admin_session(s: &TestServer) -> Value {
    s.signup(ADMIN).await;
    s.verify(ADMIN).await;
    let a = s.login(ADMIN, PASSWORD).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
}

/// Signs up and logs in; returns the whole token answer.
async fn session(s: &TestServer, email: &str) -> Value {
    s.signup(email).await;
    let a = s.login(email, PASSWORD).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
}

fn access(t: &Value) -> String {
    t["access_token"].as_str().unwrap().to_owned()
}

fn refresh(t: &Value) -> String {
    t["refresh_token"].as_str().unwrap().to_owned()
}

async fn me_status(s: &TestServer, token: &str) -> u16 {
    s.get("/auth/me", Some(token)).await.status.as_u16()
}

async fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let mut req = s
        .client
        .request(method.parse().unwrap(), s.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req).await
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_old_tokens_stop_working() {
    let s = server().await;
    let t = session(&s, "rot@example.com").await;
    assert_eq!(refresh(&t).len(), 43);
    assert!(t["refresh_expires_in"].as_u64().unwrap() > 6 * 86_400);
    let r = s
        .post("/auth/refresh", json!({ "refresh_token": refresh(&t) }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_ne!(refresh(&r.body), refresh(&t));
    assert_eq!(me_status(&s, &access(&r.body)).await, 200);
    // The used token is refused (within the grace window: no revocation).
    s.post("/auth/refresh", json!({ "refresh_token": refresh(&t) }))
        .await
        .problem(401);
    assert_eq!(me_status(&s, &access(&r.body)).await, 200);
    // The OAuth2 form works too.
    let current = refresh(&r.body);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", current.as_str()),
    ];
    let f = s
        .send(s.client.post(s.url("/auth/refresh")).form(&form))
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    // Junk is 401, a missing field 422.
    s.post("/auth/refresh", json!({ "refresh_token": "nope" }))
        .await
        .problem(401);
    assert_eq!(
        s.post("/auth/refresh", json!({})).await.fields(),
        vec!["refresh_token"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_parallel_refreshes_with_one_token_exactly_one_wins() {
    let s = server().await;
    let t = session(&s, "race@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (client, url, body) = (
            s.client.clone(),
            s.url("/auth/refresh"),
            json!({ "refresh_token": refresh(&t) }),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        9,
        "{statuses:?}"
    );
    // Losing the race inside the grace window did not revoke the session.
    assert_eq!(me_status(&s, &access(&t)).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn reusing_a_rotated_token_after_the_grace_window_revokes_the_session() {
    let s = server_with(|mut c| {
        c.refresh_reuse_grace = Duration::from_secs(0).into();
        c
    })
    .await;
    let t = session(&s, "stolen@example.com").await;
    let other = s.login("stolen@example.com", PASSWORD).await.body;
    let r = s
        .post("/auth/refresh", json!({ "refresh_token": refresh(&t) }))
        .await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The attacker replays the old token: refused, and the session is ended.
    s.post("/auth/refresh", json!({ "refresh_token": refresh(&t) }))
        .await
        .problem(401);
    assert_eq!(
        me_status(&s, &access(&r.body)).await,
        403,
        "access token of the revoked session"
    );
    s.post(
        "/auth/refresh",
        json!({ "refresh_token": refresh(&r.body) }),
    )
    .await
    .problem(401);
    // Other sessions of the user are untouched.
    assert_eq!(me_status(&s, &access(&other)).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_current_session_at_once() {
    let s = server().await;
    let a = session(&s, "out@example.com").await;
    let b = s.login("out@example.com", PASSWORD).await.body;
    assert_eq!(
        send(&s, "POST", "/auth/logout", &access(&a), None)
            .await
            .status,
        204
    );
    assert_eq!(me_status(&s, &access(&a)).await, 403);
    s.post("/auth/refresh", json!({ "refresh_token": refresh(&a) }))
        .await
        .problem(401);
    assert_eq!(me_status(&s, &access(&b)).await, 200);
    s.post("/auth/validate-token", json!({ "token": access(&a) }))
        .await
        .problem(401);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_ends_every_session() {
    let s = server().await;
    let a = session(&s, "all@example.com").await;
    let b = s.login("all@example.com", PASSWORD).await.body;
    let sessions = send(&s, "GET", "/auth/sessions", &access(&a), None).await;
    assert_eq!(sessions.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        sessions.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["current"] == true)
            .count(),
        1
    );
    assert_eq!(
        send(&s, "POST", "/auth/logout-all", &access(&b), None)
            .await
            .status,
        204
    );
    assert_eq!(me_status(&s, &access(&a)).await, 403);
    assert_eq!(me_status(&s, &access(&b)).await, 403);
    s.post("/auth/refresh", json!({ "refresh_token": refresh(&a) }))
        .await
        .problem(401);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_can_be_ended_and_only_your_own() {
    let s = server().await;
    let a = session(&s, "own@example.com").await;
    let a2 = s.login("own@example.com", PASSWORD).await.body;
    let b = session(&s, "other@example.com").await;
    let list = send(&s, "GET", "/auth/sessions", &access(&a), None)
        .await
        .body;
    let second = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another user cannot end it (IDOR): 404, and it still works.
    send(
        &s,
        "DELETE",
        &format!("/auth/sessions/{second}"),
        &access(&b),
        None,
    )
    .await
    .problem(404);
    assert_eq!(me_status(&s, &access(&a2)).await, 200);
    assert_eq!(
        send(
            &s,
            "DELETE",
            &format!("/auth/sessions/{second}"),
            &access(&a),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(me_status(&s, &access(&a2)).await, 403);
    assert_eq!(me_status(&s, &access(&a)).await, 200);
    send(
        &s,
        "DELETE",
        "/auth/sessions/does-not-exist",
        &access(&a),
        None,
    )
    .await
    .problem(404);
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_ends_other_sessions() {
    let s = server().await;
    let a = session(&s, "pw@example.com").await;
    let b = s.login("pw@example.com", PASSWORD).await.body;
    let new = "granite otter symphony 88";
    let wrong = send(
        &s,
        "POST",
        "/auth/password",
        &access(&a),
        Some(json!({"current_password": "nope nope", "new_password": new})),
    )
    .await;
    assert_eq!(wrong.fields(), vec!["current_password"]);
    let weak = send(
        &s,
        "POST",
        "/auth/password",
        &access(&a),
        Some(json!({"current_password": PASSWORD, "new_password": "password1"})),
    )
    .await;
    assert_eq!(weak.fields(), vec!["new_password"]);
    let ok = send(
        &s,
        "POST",
        "/auth/password",
        &access(&a),
        Some(json!({"current_password": PASSWORD, "new_password": new})),
    )
    .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    assert_eq!(
        me_status(&s, &access(&a)).await,
        200,
        "the session that changed it stays"
    );
    assert_eq!(me_status(&s, &access(&b)).await, 403);
    s.login("pw@example.com", PASSWORD).await.problem(401);
    assert_eq!(s.login("pw@example.com", new).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_reads_updates_and_conflicts() {
    let s = server().await;
    let t = session(&s, "prof@example.com").await;
    let me = send(&s, "GET", "/users/me", &access(&t), None).await;
    assert_eq!(me.status, 200);
    let etag = me.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"v{}\"", me.body["version"]));
    let patch = |body: Value, if_match: Option<&str>| {
        let mut req = s
            .client
            .patch(s.url("/users/me"))
            .bearer_auth(access(&t))
            .json(&body);
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        s.send(req)
    };
    let p = patch(json!({"name": "Grace", "bio": "Compilers.", "username": "grace_h", "date_of_birth": "1906-12-09"}), Some(&etag)).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(
        (
            p.body["name"].as_str(),
            p.body["bio"].as_str(),
            p.body["username"].as_str()
        ),
        (Some("Grace"), Some("Compilers."), Some("grace_h"))
    );
    assert_ne!(p.headers["etag"].to_str().unwrap(), etag);
    // The old ETag is stale now: 412. A stale body version: 409.
    patch(json!({"name": "X"}), Some(&etag)).await.problem(412);
    patch(json!({"name": "X", "version": me.body["version"]}), None)
        .await
        .problem(409);
    // null clears; absent keeps.
    let cleared = patch(json!({"bio": null}), None).await;
    assert_eq!(
        (cleared.body["bio"].clone(), cleared.body["name"].as_str()),
        (Value::Null, Some("Grace"))
    );
    // Validation as at signup, every field at once.
    let bad = patch(json!({"name": "  ", "username": "x", "date_of_birth": "3000-01-01", "bio": "a".repeat(501)}), None).await;
    assert_eq!(
        bad.fields(),
        vec!["name", "username", "date_of_birth", "bio"]
    );
    // Usernames stay unique; the old one is released.
    let other = session(&s, "prof2@example.com").await;
    let taken = send(
        &s,
        "PATCH",
        "/users/me",
        &access(&other),
        Some(json!({"username": "GRACE_H"})),
    )
    .await;
    assert_eq!(taken.problem(409)["detail"], "This username is taken.");
    patch(json!({"username": "grace2"}), None).await;
    assert_eq!(
        send(
            &s,
            "PATCH",
            "/users/me",
            &access(&other),
            Some(json!({"username": "grace_h"}))
        )
        .await
        .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_needs_the_admin_role_and_cannot_harm_itself() {
    let s = server().await;
    let user = session(&s, "plain@example.com").await;
    let admin = admin_session(&s).await;
    let admin_id = send(&s, "GET", "/users/me", &access(&admin), None)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_id = send(&s, "GET", "/users/me", &access(&user), None)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // 401 without a token (API Gateway), 403 for a non-admin (problem).
    assert_eq!(s.get("/admin/users", None).await.status, 401);
    send(&s, "GET", "/admin/users", &access(&user), None)
        .await
        .problem(403);
    send(
        &s,
        "DELETE",
        &format!("/admin/users/{admin_id}"),
        &access(&user),
        None,
    )
    .await
    .problem(403);
    // Self-protection.
    send(
        &s,
        "POST",
        &format!("/admin/users/{admin_id}/deactivate"),
        &access(&admin),
        None,
    )
    .await
    .problem(400);
    send(
        &s,
        "PATCH",
        &format!("/admin/users/{admin_id}"),
        &access(&admin),
        Some(json!({"role": "user"})),
    )
    .await
    .problem(400);
    send(
        &s,
        "DELETE",
        &format!("/admin/users/{admin_id}"),
        &access(&admin),
        None,
    )
    .await
    .problem(400);
    // Reading and changing others.
    let got = send(
        &s,
        "GET",
        &format!("/admin/users/{user_id}"),
        &access(&admin),
        None,
    )
    .await;
    assert_eq!(got.body["email"], "plain@example.com");
    send(&s, "GET", "/admin/users/nobody", &access(&admin), None)
        .await
        .problem(404);
    assert_eq!(
        send(
            &s,
            "PATCH",
            &format!("/admin/users/{user_id}"),
            &access(&admin),
            Some(json!({"role": "root"}))
        )
        .await
        .fields(),
        vec!["role"]
    );
    let promoted = send(
        &s,
        "PATCH",
        &format!("/admin/users/{user_id}"),
        &access(&admin),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(promoted.body["role"], "admin");
    // The promotion shows at once: the same token now reaches admin routes.
    assert_eq!(
        send(&s, "GET", "/admin/users", &access(&user), None)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivation_ends_sessions_and_blocks_login_with_the_generic_answer() {
    let s = server().await;
    let user = session(&s, "bye@example.com").await;
    let admin = admin_session(&s).await;
    let user_id = send(&s, "GET", "/users/me", &access(&user), None)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = send(
        &s,
        "POST",
        &format!("/admin/users/{user_id}/deactivate"),
        &access(&admin),
        None,
    )
    .await;
    assert_eq!(
        (d.status.as_u16(), d.body["active"].clone()),
        (200, json!(false))
    );
    assert_eq!(me_status(&s, &access(&user)).await, 403);
    s.post("/auth/refresh", json!({ "refresh_token": refresh(&user) }))
        .await
        .problem(401);
    let denied = s.login("bye@example.com", PASSWORD).await;
    assert_eq!(
        denied.text,
        s.login("nobody@example.com", PASSWORD).await.text
    );
    send(
        &s,
        "POST",
        &format!("/admin/users/{user_id}/activate"),
        &access(&admin),
        None,
    )
    .await;
    assert_eq!(s.login("bye@example.com", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_lists_users_with_cursor_search_and_filter() {
    let s = server().await;
    let admin = admin_session(&s).await;
    for i in 0..5 {
        s.signup(&format!("list{i}@example.com")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    // Bounded: a cursor that led back would page forever.
    for round in 0.. {
        assert!(round < 1_000, "the pages never ended");
        let path = match &cursor {
            Some(c) => format!("/admin/users?limit=2&q=list&cursor={c}"),
            None => "/admin/users?limit=2&q=list".into(),
        };
        let page = send(&s, "GET", &path, &access(&admin), None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        (0..5)
            .map(|i| format!("list{i}@example.com"))
            .collect::<Vec<_>>()
    );
    // Username prefix search (any case), through the username index.
    for (email, name) in [
        ("un1@example.com", "Alpha_one"),
        ("un2@example.com", "alpha_two"),
        ("un3@example.com", "beta"),
    ] {
        let t = session(&s, email).await;
        send(
            &s,
            "PATCH",
            "/users/me",
            &access(&t),
            Some(json!({ "username": name })),
        )
        .await;
    }
    let by_name = send(&s, "GET", "/admin/users?q=%40ALPHA", &access(&admin), None).await;
    let names: Vec<&str> = by_name.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha_one", "alpha_two"]);
    let inactive = send(
        &s,
        "GET",
        "/admin/users?active=false",
        &access(&admin),
        None,
    )
    .await;
    assert_eq!(inactive.body["items"].as_array().unwrap().len(), 0);
    send(&s, "GET", "/admin/users?limit=0", &access(&admin), None)
        .await
        .problem(422);
    send(
        &s,
        "GET",
        "/admin/users?active=maybe",
        &access(&admin),
        None,
    )
    .await
    .problem(422);
    send(
        &s,
        "GET",
        "/admin/users?cursor=garbage",
        &access(&admin),
        None,
    )
    .await
    .problem(400);
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_failed_logins_get_429_until_the_window_ends() {
    let s = server_with(|mut c| {
        c.login_max_failures_per_account = 3.into();
        c
    })
    .await;
    s.signup("brute@example.com").await;
    for _ in 0..3 {
        s.login("brute@example.com", "wrong wrong wrong")
            .await
            .problem(401);
    }
    let limited = s.login("brute@example.com", PASSWORD).await;
    limited.problem(429);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Unknown accounts are limited the same way (no way to tell them apart).
    for _ in 0..3 {
        s.login("ghost@example.com", "wrong wrong wrong")
            .await
            .problem(401);
    }
    s.login("ghost@example.com", PASSWORD).await.problem(429);
    // Other accounts are unaffected.
    s.signup("fine@example.com").await;
    assert_eq!(s.login("fine@example.com", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_failure_window_expires_by_itself() {
    let s = server_with(|mut c| {
        c.login_max_failures_per_account = 2.into();
        c.login_failure_window = Duration::from_secs(2).into();
        c
    })
    .await;
    s.signup("wait@example.com").await;
    // Start at the beginning of a window so both failures land in it.
    tokio::time::sleep(Duration::from_millis(
        2000 - (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 % 2000) as u64,
    ))
    .await;
    s.login("wait@example.com", "wrong wrong wrong").await;
    s.login("wait@example.com", "wrong wrong wrong").await;
    s.login("wait@example.com", PASSWORD).await.problem(429);
    // The window slides: the failures weigh less and less through the next
    // window, and nothing after it.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(s.login("wait@example.com", PASSWORD).await.status, 200);
}

/// Every item in the store, as text, on either backend.
async fn everything_stored(s: &TestServer) -> Vec<String> {
    let config = &s.config;
    match config.backend {
        shared::config::Backend::Embedded => {
            let db = rusqlite::Connection::open(config.data_dir.join("store.sqlite3")).unwrap();
            let mut stmt = db.prepare("SELECT doc FROM items").unwrap();
            stmt.query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
        shared::config::Backend::Aws => {
            let sdk = adapters_aws::sdk_config(config).await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            let out = client
                .scan()
                .table_name(&config.table_name)
                .send()
                .await
                .unwrap();
            out.items
                .unwrap_or_default()
                .iter()
                .map(|i| format!("{i:?}"))
                .collect()
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_account_leaves_nothing_of_the_user_behind() {
    let s = server().await;
    let t = session(&s, "gone@example.com").await;
    let id = send(&s, "GET", "/users/me", &access(&t), None).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(
        &s,
        "PATCH",
        "/users/me",
        &access(&t),
        Some(json!({"username": "gone_user"})),
    )
    .await;
    let admin = admin_session(&s).await;
    let book = send(
        &s,
        "POST",
        "/books",
        &access(&admin),
        Some(
            json!({"title": "kept in stock", "author": "someone", "price_cents": 100, "stock": 2}),
        ),
    )
    .await;
    assert_eq!(book.status, 201, "{}", book.text);
    let order = send(
        &s,
        "POST",
        "/orders",
        &access(&t),
        Some(json!({"items": [{"book_id": book.body["id"], "quantity": 1}]})),
    )
    .await;
    assert_eq!(order.status, 201, "{}", order.text);
    for n in 0..3 {
        let t = send(
            &s,
            "POST",
            "/tasks",
            &access(&t),
            Some(json!({"title": format!("gone task {n}")})),
        )
        .await;
        assert_eq!(t.status, 201, "{}", t.text);
    }
    let r = s
        .post("/auth/refresh", json!({ "refresh_token": refresh(&t) }))
        .await
        .body;
    s.login("gone@example.com", "a wrong password here").await;
    let export = send(&s, "GET", "/users/me/export", &access(&r), None).await;
    assert_eq!(export.status, 200);
    assert_eq!(export.body["user"]["email"], "gone@example.com");
    assert!(!export.body["sessions"].as_array().unwrap().is_empty());
    assert!(export.body["audit"].as_array().unwrap().len() >= 3);
    assert_eq!(export.body["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(export.body["orders"].as_array().unwrap().len(), 1);
    assert!(!export.text.contains("argon2") && !export.text.contains(&refresh(&r)));

    assert_eq!(
        send(&s, "DELETE", "/users/me", &access(&r), Some(json!({})))
            .await
            .fields(),
        vec!["password"]
    );
    send(
        &s,
        "DELETE",
        "/users/me",
        &access(&r),
        Some(json!({"password": "not it at all"})),
    )
    .await
    .problem(422);
    let before = everything_stored(&s).await;
    assert!(before.iter().any(|i| i.contains("gone@example.com")));
    let d = send(
        &s,
        "DELETE",
        "/users/me",
        &access(&r),
        Some(json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(d.status, 204, "{}", d.text);
    // The user.deleted consumer removes the rest asynchronously: allow it a moment.
    let mut leftovers = Vec::new();
    for _ in 0..50 {
        leftovers = everything_stored(&s)
            .await
            .into_iter()
            .filter(|i| {
                i.contains("gone@example.com")
                    || i.contains("gone_user")
                    || i.contains("gone task")
                    || (i.contains(&id) && !i.contains("deleted_user_id"))
            })
            .collect();
        if leftovers.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(leftovers.is_empty(), "left behind: {leftovers:#?}");
    assert_eq!(me_status(&s, &access(&r)).await, 403);
    s.login("gone@example.com", PASSWORD).await.problem(401);
    // The email and username are free again.
    let again = s
        .post(
            "/auth/signup",
            json!({"email": "gone@example.com", "password": PASSWORD, "username": "gone_user"}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_flow_writes_its_audit_entry() {
    let s = server_with(|mut c| {
        c.refresh_reuse_grace = Duration::from_secs(0).into();
        c
    })
    .await;
    let admin = admin_session(&s).await;
    let t = session(&s, "audited@example.com").await;
    let id = send(&s, "GET", "/users/me", &access(&t), None).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.login("audited@example.com", "not the password!").await;
    let r = s
        .post("/auth/refresh", json!({ "refresh_token": refresh(&t) }))
        .await
        .body;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.post("/auth/refresh", json!({ "refresh_token": refresh(&t) }))
        .await;
    let t2 = s.login("audited@example.com", PASSWORD).await.body;
    send(
        &s,
        "POST",
        "/auth/password",
        &access(&t2),
        Some(json!({"current_password": PASSWORD, "new_password": "granite otter symphony 88"})),
    )
    .await;
    send(&s, "POST", "/auth/logout", &access(&t2), None).await;
    send(
        &s,
        "POST",
        &format!("/admin/users/{id}/deactivate"),
        &access(&admin),
        None,
    )
    .await;
    send(
        &s,
        "POST",
        &format!("/admin/users/{id}/activate"),
        &access(&admin),
        None,
    )
    .await;
    send(
        &s,
        "PATCH",
        &format!("/admin/users/{id}"),
        &access(&admin),
        Some(json!({"role": "admin"})),
    )
    .await;
    let _ = r;

    let log = send(
        &s,
        "GET",
        &format!("/admin/audit?user_id={id}&limit=100"),
        &access(&admin),
        None,
    )
    .await;
    assert_eq!(log.status, 200, "{}", log.text);
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "user.signed_up",
        "login.succeeded",
        "login.failed",
        "token.refreshed",
        "refresh.reuse_detected",
        "password.changed",
        "logout",
        "admin.user.deactivated",
        "admin.user.activated",
        "admin.user.role_changed",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    // Newest first, with who and from where, and never a secret.
    assert_eq!(actions[0], "admin.user.role_changed");
    let entry = &log.body["items"][0];
    assert!(entry["actor_id"].is_string() && entry["ip"].as_str() == Some("127.0.0.1"));
    assert!(
        !log.text.contains("granite")
            && !log.text.contains(PASSWORD)
            && !log.text.contains(&refresh(&t))
    );
    let all = send(&s, "GET", "/admin/audit?limit=5", &access(&admin), None).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 5);
    assert!(all.body["next_cursor"].is_string());
}

/// Entries about an admin's actions outlive that admin; a user's export
/// shows what an admin did to them but not the admin's address or browser.
#[tokio::test(flavor = "multi_thread")]
async fn admin_actions_outlive_the_admin_and_exports_hide_the_admins_address() {
    let s = server().await;
    let admin = admin_session(&s).await;
    let admin_id = send(&s, "GET", "/users/me", &access(&admin), None)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = session(&s, "subject@example.com").await;
    let id = send(&s, "GET", "/users/me", &access(&t), None).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let doomed = session(&s, "doomed@example.com").await;
    let doomed_id = send(&s, "GET", "/users/me", &access(&doomed), None)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The doomed account has a username: deleting the account frees it.
    let named = send(
        &s,
        "PATCH",
        "/users/me",
        &access(&doomed),
        Some(json!({ "username": "doomed_one" })),
    )
    .await;
    assert_eq!(named.status, 200, "{}", named.text);
    let admin_call = |method: &'static str, path: String| {
        let s = &s;
        let token = access(&admin);
        async move {
            s.send(
                s.client
                    .request(method.parse().unwrap(), s.url(&path))
                    .bearer_auth(token)
                    .header("user-agent", "admin-console/1.0"),
            )
            .await
        }
    };
    for path in [
        format!("/admin/users/{id}/deactivate"),
        format!("/admin/users/{id}/activate"),
    ] {
        assert_eq!(admin_call("POST", path).await.status, 200);
    }
    assert_eq!(
        admin_call("DELETE", format!("/admin/users/{doomed_id}"))
            .await
            .status,
        204
    );
    let claimant = session(&s, "claimant@example.com").await;
    let claimed = send(
        &s,
        "PATCH",
        "/users/me",
        &access(&claimant),
        Some(json!({ "username": "doomed_one" })),
    )
    .await;
    assert_eq!(
        claimed.status, 200,
        "the username is free: {}",
        claimed.text
    );
    // The admin leaves; the consumer erases what was kept about them.
    let gone = send(
        &s,
        "DELETE",
        "/users/me",
        &access(&admin),
        Some(json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let next_admin = admin_session(&s).await;
    let mut trail = Vec::new();
    for _ in 0..50 {
        let all = send(
            &s,
            "GET",
            "/admin/audit?limit=100",
            &access(&next_admin),
            None,
        )
        .await;
        trail = all.body["items"].as_array().unwrap().clone();
        let admins_own_gone = !trail
            .iter()
            .any(|e| e["action"] == "login.succeeded" && e["user_id"] == admin_id.as_str());
        if admins_own_gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_old_admin: Vec<&str> = trail
        .iter()
        .filter(|e| e["actor_id"] == admin_id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "admin.user.deactivated",
        "admin.user.activated",
        "admin.user.deleted",
        "user.deleted",
    ] {
        assert!(
            by_old_admin.contains(&action),
            "{action} by the deleted admin is gone: {by_old_admin:?}"
        );
    }
    assert!(
        !trail
            .iter()
            .any(|e| e["action"] == "login.succeeded" && e["user_id"] == admin_id.as_str()),
        "the deleted admin's own entries are erased"
    );
    let deletion = trail
        .iter()
        .find(|e| e["action"] == "admin.user.deleted")
        .unwrap();
    assert_eq!(deletion["user_id"], doomed_id.as_str());
    assert!(
        !serde_json::to_string(&trail)
            .unwrap()
            .contains("doomed@example.com")
    );

    // Deactivation ended the subject's sessions: a new login.
    let t = s.login("subject@example.com", PASSWORD).await.body;
    let export = send(&s, "GET", "/users/me/export", &access(&t), None).await;
    let audit = export.body["audit"].as_array().unwrap();
    let by_admin: Vec<&Value> = audit
        .iter()
        .filter(|e| e["actor_id"] == admin_id.as_str())
        .collect();
    assert_eq!(by_admin.len(), 2, "{audit:#?}");
    for e in by_admin {
        assert!(e["ip"].is_null() && e["user_agent"].is_null(), "{e}");
    }
    let own = audit
        .iter()
        .find(|e| e["action"] == "login.succeeded")
        .unwrap();
    assert_eq!(own["ip"], "127.0.0.1");
    assert!(!export.text.contains("admin-console"));
}
