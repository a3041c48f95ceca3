//! `Idempotency-Key` on the writes a client retries (`POST /tasks`,
//! `/orders`, `/books`), black-box through the local server on the backend
//! `TEST_BACKEND` selects: a repeat replays the first answer and writes
//! nothing, another request under the key is a 422, a key still in use a
//! 409 with `Retry-After`, a failed request frees its key, keys are the
//! caller's own. Lost replies (the write committed, its answer lost) are
//! the fault suite's (`faults.rs`, `a_lost_reply_replays_on_retry`).

mod common;

use std::time::Duration;

use common::{Answer, TestServer};
use serde_json::{Value, json};
use shared::ports::item_store::{Index, Query};

const ADMIN: &str = "keeper@example.com";

async fn server() -> TestServer {
    TestServer::start_with(|mut c| {
        c.admin_emails = vec![ADMIN.into()];
        c.idempotency_lease = Duration::from_secs(2).into();
        c
    })
    .await
}

async fn keyed(s: &TestServer, path: &str, token: &str, key: &str, body: Value) -> Answer {
    s.call("POST", path, token, Some(body), &[("idempotency-key", key)])
        .await
}

async fn keyed_empty(s: &TestServer, path: &str, token: &str, key: &str) -> Answer {
    s.call("POST", path, token, None, &[("idempotency-key", key)])
        .await
}

/// The caller's user id (`GET /auth/me`).
async fn user_id(s: &TestServer, token: &str) -> String {
    let me = s.call("GET", "/auth/me", token, None, &[]).await;
    assert_eq!(me.status, 200, "{}", me.text);
    me.body["user_id"].as_str().unwrap().to_owned()
}

fn replayed(a: &Answer) -> Option<&str> {
    a.headers
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap())
}

async fn tasks_of(s: &TestServer, token: &str) -> Vec<Value> {
    let list = s.call("GET", "/tasks", token, None, &[]).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_task_is_written_once_and_answered_alike() {
    let s = server().await;
    let t = s.user_token("ida@example.com").await;
    let body = json!({"title": "Pay the rent", "due_date": "2026-12-31"});
    let first = keyed(&s, "/tasks", &t, "k-1", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(replayed(&first), None);
    let again = keyed(&s, "/tasks", &t, "k-1", body.clone()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, first.body);
    for h in ["location", "etag", "content-type"] {
        assert_eq!(again.headers.get(h), first.headers.get(h), "{h}");
    }
    assert_eq!(tasks_of(&s, &t).await.len(), 1);

    // Without a key, or with another, the same body is a new task.
    let plain = s.call("POST", "/tasks", &t, Some(body.clone()), &[]).await;
    assert_eq!(plain.status, 201, "{}", plain.text);
    let other = keyed(&s, "/tasks", &t, "k-2", body.clone()).await;
    assert_eq!(other.status, 201, "{}", other.text);
    assert_ne!(other.body["id"], first.body["id"]);
    assert_eq!(tasks_of(&s, &t).await.len(), 3);

    // The key is kept 24 hours, hashed, with the caller in its partition.
    let page = s
        .running
        .state
        .store
        .query(Query::new(
            Index::Primary,
            format!("IDEMPOTENCY#{}", user_id(&s, &t).await),
        ))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2, "{:?}", page.items);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for item in &page.items {
        assert_eq!(item["state"], "done");
        assert!(!item["sk"].as_str().unwrap().contains("k-"), "{item:?}");
        let expires = item["expires_at"].as_i64().unwrap();
        assert!(
            (now + 86_000..=now + 86_500).contains(&expires),
            "{expires}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_names_one_request_of_one_caller() {
    let s = server().await;
    let t = s.user_token("kim@example.com").await;
    let u = s.user_token("lou@example.com").await;
    let first = keyed(&s, "/tasks", &t, "shared-key", json!({"title": "one"})).await;
    assert_eq!(first.status, 201, "{}", first.text);

    // Another body, or another route, under the same key: 422, nothing written.
    let other_body = keyed(&s, "/tasks", &t, "shared-key", json!({"title": "two"})).await;
    assert_eq!(
        other_body.problem(422)["errors"][0]["field"],
        "Idempotency-Key"
    );
    let other_route = keyed(&s, "/orders", &t, "shared-key", json!({"items": []})).await;
    assert_eq!(
        other_route.problem(422)["errors"][0]["field"],
        "Idempotency-Key"
    );
    assert_eq!(tasks_of(&s, &t).await.len(), 1);

    // Another caller's key of the same name is theirs.
    let theirs = keyed(&s, "/tasks", &u, "shared-key", json!({"title": "two"})).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_eq!(replayed(&theirs), None);
    assert_eq!(tasks_of(&s, &u).await.len(), 1);

    // Malformed keys are refused before anything runs.
    for bad in [String::new(), "x".repeat(256), "two words".into()] {
        let a = keyed(&s, "/tasks", &t, &bad, json!({"title": "three"})).await;
        assert_eq!(
            a.problem(422)["errors"][0]["field"],
            "Idempotency-Key",
            "{bad:?}"
        );
    }
    let longest = keyed(&s, "/tasks", &t, &"x".repeat(255), json!({"title": "four"})).await;
    assert_eq!(longest.status, 201, "{}", longest.text);
    assert_eq!(tasks_of(&s, &t).await.len(), 2);

    // Routes that do not take the header ignore it.
    let id = first.body["id"].as_str().unwrap();
    for _ in 0..2 {
        let patch = s
            .call(
                "PATCH",
                &format!("/tasks/{id}"),
                &t,
                Some(json!({"title": "renamed"})),
                &[("idempotency-key", "shared-key")],
            )
            .await;
        assert_eq!(patch.status, 200, "{}", patch.text);
        assert_eq!(replayed(&patch), None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_in_use_is_a_409_until_its_lease_ends() {
    let s = server().await;
    let t = s.user_token("max@example.com").await;
    let user = user_id(&s, &t).await;
    let body = json!({"title": "slow"});
    // An attempt that claimed the key and died (its process stopped):
    // claimed directly, with the request's fingerprint.
    let print = shared::idempotency::fingerprint(
        "POST",
        "/tasks",
        serde_json::to_string(&body).unwrap().as_bytes(),
    );
    let claimed = s
        .running
        .state
        .idempotency
        .claim(&user, "k-busy", &print)
        .await
        .unwrap();
    assert!(
        matches!(claimed, shared::idempotency::Claimed::Run(_)),
        "{claimed:?}"
    );

    let busy = keyed(&s, "/tasks", &t, "k-busy", body.clone()).await;
    busy.problem(409);
    assert_eq!(busy.body["type"], "/problems/idempotency-key-in-use");
    let wait: u64 = busy.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(tasks_of(&s, &t).await.is_empty());

    // Once the lease lapses, a retry runs in the dead attempt's place...
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let ran = keyed(&s, "/tasks", &t, "k-busy", body.clone()).await;
    assert_eq!(ran.status, 201, "{}", ran.text);
    // ...and the dead attempt's commit, arriving late, writes nothing.
    let shared::idempotency::Claimed::Run(stale) = claimed else {
        unreachable!()
    };
    let late = s
        .running
        .state
        .store
        .write(stale.answer_write(&shared::idempotency::Answer {
            status: 201,
            headers: vec![],
            body: "{}".into(),
        }))
        .await;
    assert_eq!(
        late.unwrap_err(),
        shared::ports::item_store::StoreError::ConditionFailed
    );
    let again = keyed(&s, "/tasks", &t, "k-busy", body).await;
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, ran.body);
    assert_eq!(tasks_of(&s, &t).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_and_books_are_placed_once_and_a_refusal_frees_the_key() {
    let s = server().await;
    let admin = s.admin_token(ADMIN).await;
    let t = s.user_token("ned@example.com").await;
    let book = json!({"title": "Once", "author": "A. Author", "price_cents": 700, "stock": 3});
    let b1 = keyed(&s, "/books", &admin, "book-1", book.clone()).await;
    assert_eq!(b1.status, 201, "{}", b1.text);
    let b2 = keyed(&s, "/books", &admin, "book-1", book).await;
    assert_eq!(replayed(&b2), Some("true"));
    assert_eq!(b2.body, b1.body);
    let books = s.send(s.client.get(s.url("/books"))).await;
    assert_eq!(
        books.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        books.text
    );
    let id = b1.body["id"].as_str().unwrap();

    // Four copies wanted, three in stock: a 409 that frees the key.
    let four = json!({"items": [{"book_id": id, "quantity": 4}]});
    keyed(&s, "/orders", &t, "order-1", four.clone())
        .await
        .problem(409);
    let restock = s
        .call(
            "PATCH",
            &format!("/books/{id}"),
            &admin,
            Some(json!({"stock_delta": 1})),
            &[],
        )
        .await;
    assert_eq!(restock.status, 200, "{}", restock.text);
    let placed = keyed(&s, "/orders", &t, "order-1", four.clone()).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(replayed(&placed), None);
    let again = keyed(&s, "/orders", &t, "order-1", four).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, placed.body);
    let stock = s.send(s.client.get(s.url(&format!("/books/{id}")))).await;
    assert_eq!(stock.body["stock"], 0, "{}", stock.text);
    let orders = s.call("GET", "/orders", &t, None, &[]).await;
    assert_eq!(
        orders.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        orders.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_sign_up_creates_one_account_and_keeps_no_password_hash() {
    let s = server().await;
    let body = json!({"email": "Una@Example.com", "password": common::PASSWORD, "name": "Una"});
    let send = |key: &'static str, body: Value| {
        let req = s
            .client
            .post(s.url("/auth/signup"))
            .header("idempotency-key", key)
            .json(&body);
        s.send(req)
    };
    let first = send("su-1", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send("su-1", body.clone()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, first.body);
    // Another address under the same key is another sign-up's key.
    let other = send(
        "su-1",
        json!({"email": "vic@example.com", "password": common::PASSWORD}),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.text);
    assert_eq!(replayed(&other), None);
    // The same address with another name is another request: 422.
    let renamed = send(
        "su-1",
        json!({"email": "una@example.com", "password": common::PASSWORD, "name": "Ana"}),
    )
    .await;
    assert_eq!(
        renamed.problem(422)["errors"][0]["field"],
        "Idempotency-Key"
    );
    // Without a key, the address is taken.
    s.post("/auth/signup", body).await.problem(409);

    // What is kept under the key: the hash of the body without its
    // password, never a fast hash of the password.
    let items = s.running.state.store.scan_all().await.unwrap();
    let kept: Vec<_> = items
        .iter()
        .filter(|i| i["pk"].as_str().unwrap().starts_with("IDEMPOTENCY#signup:"))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let without = edge::idempotency::fingerprint_parts(
        "POST",
        "/auth/signup",
        &json!({"email": "Una@Example.com", "name": "Una"}),
    );
    assert!(
        kept.iter().any(|i| i["request"] == without.as_str()),
        "{kept:?}"
    );
    let text = serde_json::to_string(&kept).unwrap();
    assert!(!text.contains(common::PASSWORD));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admins_repeated_change_is_made_once() {
    let s = server().await;
    let admin = s.admin_token(ADMIN).await;
    let t = s.user_token("wes@example.com").await;
    let id = user_id(&s, &t).await;
    let off = format!("/admin/users/{id}/deactivate");
    let first = s
        .call("POST", &off, &admin, None, &[("idempotency-key", "off-1")])
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["active"], false);
    let again = s
        .call("POST", &off, &admin, None, &[("idempotency-key", "off-1")])
        .await;
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, first.body);
    let user = s.running.state.users.get(&id).await.unwrap().unwrap();
    assert_eq!(user.version, 2, "saved once");

    let path = format!("/admin/users/{id}");
    let role = s
        .call(
            "PATCH",
            &path,
            &admin,
            Some(json!({"role": "admin"})),
            &[("idempotency-key", "role-1")],
        )
        .await;
    assert_eq!(role.status, 200, "{}", role.text);
    let gone = s
        .call(
            "DELETE",
            &path,
            &admin,
            None,
            &[("idempotency-key", "del-1")],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    // Deleted: a repeat without the key is a 404, with it the first answer.
    s.call("DELETE", &path, &admin, None, &[])
        .await
        .problem(404);
    let again = s
        .call(
            "DELETE",
            &path,
            &admin,
            None,
            &[("idempotency-key", "del-1")],
        )
        .await;
    assert_eq!(again.status, 204, "{}", again.text);
    assert_eq!(replayed(&again), Some("true"));
    let redrive = s
        .call(
            "POST",
            "/admin/events/redrive",
            &admin,
            None,
            &[("idempotency-key", "rd-1")],
        )
        .await;
    assert_eq!(redrive.status, 200, "{}", redrive.text);
    let again = s
        .call(
            "POST",
            "/admin/events/redrive",
            &admin,
            None,
            &[("idempotency-key", "rd-1")],
        )
        .await;
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, redrive.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_upload_url_is_the_same_url() {
    let s = server().await;
    let t = s.user_token("xia@example.com").await;
    let body = json!({"content_type": "image/png", "content_length": 1234});
    let first = keyed(&s, "/users/me/avatar/upload-url", &t, "up-1", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = keyed(&s, "/users/me/avatar/upload-url", &t, "up-1", body.clone()).await;
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, first.body);
    // The upload record expects that URL's object.
    let id = user_id(&s, &t).await;
    let record = s
        .running
        .state
        .store
        .get(&shared::table_keys::avatar_upload(&id))
        .await
        .unwrap()
        .unwrap();
    let key = record["key"].as_str().unwrap();
    assert!(first.body["url"].as_str().unwrap().contains(key), "{key}");
    let other = keyed(&s, "/users/me/avatar/upload-url", &t, "up-2", body).await;
    assert_ne!(other.body["url"], first.body["url"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_pdf_request_replays_its_link() {
    let s = server().await;
    let t = s.user_token("yul@example.com").await;
    let pdf = |key: &'static str| keyed_empty(&s, "/users/me/pdf", &t, key);
    let first = pdf("pdf-1").await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["generated"], true);
    let again = pdf("pdf-1").await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(replayed(&again), Some("true"));
    assert_eq!(again.body, first.body);
    // Another key finds the stored PDF current: a fresh link, nothing drawn.
    let other = pdf("pdf-2").await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(other.body["generated"], false);
    assert_eq!(other.body["generated_at"], first.body["generated_at"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_attempts_with_one_key_order_once() {
    let s = server().await;
    let admin = s.admin_token(ADMIN).await;
    let t = s.user_token("zed@example.com").await;
    let book = keyed(
        &s,
        "/books",
        &admin,
        "stock-9",
        json!({"title": "Raced", "author": "A. Author", "price_cents": 100, "stock": 9}),
    )
    .await;
    let id = book.body["id"].as_str().unwrap().to_owned();
    let body = json!({"items": [{"book_id": id, "quantity": 1}]});
    let attempts = (0..6).map(|_| keyed(&s, "/orders", &t, "race-1", body.clone()));
    let answers = futures::future::join_all(attempts).await;
    let mut placed = 0;
    for a in &answers {
        match (a.status.as_u16(), replayed(a)) {
            (201, None) => placed += 1,
            (201, Some("true")) => {}
            (409, _) => assert_eq!(
                a.body["type"], "/problems/idempotency-key-in-use",
                "{}",
                a.text
            ),
            _ => panic!("{} {}", a.status, a.text),
        }
    }
    assert_eq!(placed, 1, "one attempt ran");
    let orders = s.call("GET", "/orders", &t, None, &[]).await;
    assert_eq!(
        orders.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        orders.text
    );
    let stock = s.send(s.client.get(s.url(&format!("/books/{id}")))).await;
    assert_eq!(stock.body["stock"], 8, "{}", stock.text);
}
