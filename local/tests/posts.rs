//! The posts feed, black-box through the local server on both backends,
//! against a real upstream HTTP server that this test starts and that
//! counts its requests and fails on command.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing;
use common::{Answer, TestBackend, TestServer};
use serde_json::{Value, json};
use shared::Config;

const ADMIN: &str = "posts-admin@example.com";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Ok,
    /// 500 Internal Server Error.
    Down,
    /// Answers only after the feed's timeout.
    Slow,
    /// 200 with HTML.
    Garbage,
    /// 200 with a valid list bigger than the feed reads.
    Oversized,
}

struct Upstream {
    requests: AtomicUsize,
    mode: std::sync::Mutex<Mode>,
    delay: std::sync::Mutex<Duration>,
    body: std::sync::Mutex<String>,
    addr: SocketAddr,
}

impl Upstream {
    async fn start(posts: Value) -> Arc<Upstream> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let upstream = Arc::new(Upstream {
            requests: AtomicUsize::new(0),
            mode: std::sync::Mutex::new(Mode::Ok),
            delay: std::sync::Mutex::new(Duration::ZERO),
            body: std::sync::Mutex::new(posts.to_string()),
            addr: listener.local_addr().unwrap(),
        });
        let app = Router::new()
            .route("/posts", routing::get(serve))
            .with_state(upstream.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        upstream
    }

    fn url(&self) -> String {
        format!("http://{}/posts", self.addr)
    }
    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
    fn posts(&self, posts: Value) {
        *self.body.lock().unwrap() = posts.to_string();
    }
}

async fn serve(State(u): State<Arc<Upstream>>) -> axum::response::Response {
    u.requests.fetch_add(1, Ordering::SeqCst);
    let mode = *u.mode.lock().unwrap();
    let delay = *u.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let json = [(http::header::CONTENT_TYPE, "application/json")];
    match mode {
        Mode::Ok => (json, u.body.lock().unwrap().clone()).into_response(),
        Mode::Down => (http::StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            (json, u.body.lock().unwrap().clone()).into_response()
        }
        Mode::Garbage => (
            [(http::header::CONTENT_TYPE, "text/html")],
            "<html>maintenance</html>",
        )
            .into_response(),
        Mode::Oversized => {
            let one = json!({"id": 1, "userId": 1, "title": "t", "body": "x".repeat(1000)});
            let list = Value::Array(vec![one; 5000]);
            (json, list.to_string()).into_response()
        }
    }
}

fn post(id: u64, title: &str, body: &str) -> Value {
    json!({"id": id, "userId": (id - 1) / 10 + 1, "title": title, "body": body})
}

/// 30 posts: a few with titles that need case folding.
fn sample() -> Value {
    let mut list: Vec<Value> = (1..=30)
        .map(|i| post(i, &format!("post number {i}"), "plain body"))
        .collect();
    list[6] = post(7, "Die Straße am Fluss", "plain body");
    list[22] = post(23, "other", "ΣΊΣΥΦΟΣ rolls the boulder");
    Value::Array(list)
}

/// The feed's settings for tests: a short timeout, and snapshots fresh
/// for `fresh` (short only where a test waits for them to go stale, so a
/// slow machine cannot make a fresh snapshot stale mid-test).
fn feed_config(upstream: &Upstream, fresh: Duration) -> impl FnOnce(Config) -> Config + use<> {
    let url = upstream.url();
    move |mut c: Config| {
        c.posts_api_url = Some(url);
        c.posts_fresh = fresh.into();
        c.posts_upstream_timeout = Duration::from_millis(400).into();
        c.admin_emails = vec![ADMIN.into()];
        c
    }
}

/// Freshness for tests that do not wait for it to lapse.
const LONG: Duration = Duration::from_secs(60);

async fn server(backend: TestBackend, upstream: &Upstream, fresh: Duration) -> TestServer {
    TestServer::start_on_with(backend, feed_config(upstream, fresh)).await
}

/// A second, independently built local server on the same storage (another
/// Lambda process sharing the table).
async fn twin(s: &TestServer) -> local::Running {
    local::start_with(
        s.config.clone(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        false,
    )
    .await
    .unwrap()
}

fn x_cache(a: &Answer) -> &str {
    a.headers["x-cache"].to_str().unwrap()
}

async fn get(client: &reqwest::Client, url: String) -> Answer {
    let response = client.get(url).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// Fires `n` requests at once, alternating between the two servers.
async fn burst(s: &TestServer, other: &local::Running, n: usize) -> Vec<Answer> {
    let urls = [s.url("/posts"), format!("{}/posts", other.url())];
    let calls = (0..n).map(|i| get(&s.client, urls[i % 2].clone()));
    futures::future::join_all(calls).await
}

fn count_status(answers: &[Answer], status: &str) -> usize {
    answers.iter().filter(|a| x_cache(a) == status).count()
}

async fn a_cold_stampede_fetches_the_upstream_once(backend: TestBackend) {
    let upstream = Upstream::start(sample()).await;
    upstream.delay(Duration::from_millis(150));
    let s = server(backend, &upstream, LONG).await;
    let other = twin(&s).await;
    let answers = burst(&s, &other, 50).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["total"], 30);
    }
    assert_eq!(
        upstream.count(),
        1,
        "one fetch for 50 cold requests in two processes"
    );
    assert_eq!(count_status(&answers, "MISS"), 1);
    assert_eq!(count_status(&answers, "HIT"), 49);
}

async fn after_fresh_until_exactly_one_refresh(backend: TestBackend) {
    let upstream = Upstream::start(sample()).await;
    let s = server(backend, &upstream, Duration::from_secs(2)).await;
    let other = twin(&s).await;
    let first = s.get("/posts", None).await;
    assert_eq!(x_cache(&first), "MISS");
    let again = s.get("/posts", None).await;
    assert_eq!((x_cache(&again), upstream.count()), ("HIT", 1));
    // The other process has no copy in memory: it reads the store's.
    let from_store = get(&s.client, format!("{}/posts", other.url())).await;
    assert_eq!((x_cache(&from_store), upstream.count()), ("HIT", 1));
    assert_eq!(from_store.headers["etag"], first.headers["etag"]);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    upstream.posts(Value::Array(vec![post(1, "only one now", "b")]));
    upstream.delay(Duration::from_millis(150));
    let answers = burst(&s, &other, 20).await;
    assert_eq!(upstream.count(), 2, "exactly one refresh");
    assert_eq!(count_status(&answers, "MISS"), 1);
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text);
        let expected = if x_cache(a) == "STALE" { 30 } else { 1 };
        assert_eq!(a.body["total"], expected, "{}", x_cache(a));
    }
    let after = s.get("/posts", None).await;
    assert_eq!(
        (x_cache(&after), after.body["total"].as_u64()),
        ("HIT", Some(1))
    );
}

/// Waits out a failed refresh's lease (the failure back-off).
async fn lease_lapses() {
    tokio::time::sleep(Duration::from_millis(3100)).await;
}

async fn upstream_failures_give_the_documented_answers(backend: TestBackend) {
    let upstream = Upstream::start(sample()).await;
    let s = server(backend, &upstream, Duration::from_secs(1)).await;
    let admin = s.admin_token(ADMIN).await;
    let drop_cache = || s.call("DELETE", "/admin/posts/cache", &admin, None, &[]);

    // Nothing cached: down and slow are 503 with Retry-After, garbage and
    // oversized answers 502.
    for (mode, status) in [
        (Mode::Down, 503),
        (Mode::Slow, 503),
        (Mode::Garbage, 502),
        (Mode::Oversized, 502),
    ] {
        upstream.set(mode);
        let before = upstream.count();
        let a = s.get("/posts", None).await;
        a.problem(status);
        assert!(!a.text.contains("maintenance") && !a.text.contains("boom"));
        if status == 503 {
            assert!(
                a.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
        }
        // The failure is remembered for the lease: no second upstream call.
        let again = s.get("/posts/1", None).await;
        again.problem(status);
        assert_eq!(upstream.count(), before + 1, "{mode:?}");
        assert_eq!(drop_cache().await.status, 204);
    }

    upstream.set(Mode::Ok);
    let fresh = s.get("/posts", None).await;
    assert_eq!((fresh.status.as_u16(), x_cache(&fresh)), (200, "MISS"));

    // Cached but stale: every failure serves the last good snapshot.
    for mode in [Mode::Down, Mode::Slow, Mode::Garbage, Mode::Oversized] {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        upstream.set(mode);
        let before = upstream.count();
        let a = s.get("/posts", None).await;
        assert_eq!((a.status.as_u16(), x_cache(&a)), (200, "STALE"), "{mode:?}");
        assert_eq!(a.body["total"], 30);
        assert_eq!(a.body["items"], fresh.body["items"]);
        assert_eq!(upstream.count(), before + 1, "{mode:?}");
        let b = s.get("/posts", None).await;
        assert_eq!(x_cache(&b), "STALE");
        assert_eq!(
            upstream.count(),
            before + 1,
            "backs off for the lease: {mode:?}"
        );
        lease_lapses().await;
    }
    upstream.set(Mode::Ok);
    let back = s.get("/posts", None).await;
    assert_eq!((back.status.as_u16(), x_cache(&back)), (200, "MISS"));
}

async fn search_paging_and_conditional_requests(backend: TestBackend) {
    let upstream = Upstream::start(sample()).await;
    let s = server(backend, &upstream, LONG).await;
    let a = s.get("/posts", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        (
            &a.body["page"],
            &a.body["per_page"],
            &a.body["total"],
            &a.body["pages"]
        ),
        (&json!(1), &json!(10), &json!(30), &json!(3))
    );
    assert_eq!(a.body["items"].as_array().unwrap().len(), 10);
    assert_eq!(a.body["items"][0], post(1, "post number 1", "plain body"));
    assert!(
        a.headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    assert!(a.headers.contains_key("age"));

    let last = s.get("/posts?page=3&per_page=12", None).await;
    let ids: Vec<u64> = last.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (25..=30).collect::<Vec<_>>());
    assert_eq!(last.body["pages"], 3);
    let past = s.get("/posts?page=4&per_page=12", None).await;
    assert_eq!(past.status, 200);
    assert_eq!(
        (
            past.body["items"].clone(),
            &past.body["total"],
            &past.body["pages"]
        ),
        (json!([]), &json!(30), &json!(3))
    );
    let all = s.get("/posts?per_page=100", None).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 30);

    for (query, id) in [
        ("STRASSE", 7),
        ("straße", 7),
        ("σίσυφος", 23),
        ("BOULDER", 23),
    ] {
        let found = s
            .send(s.client.get(s.url("/posts")).query(&[("search", query)]))
            .await;
        assert_eq!(found.body["total"], 1, "{query}: {}", found.text);
        assert_eq!(found.body["items"][0]["id"], id, "{query}");
    }
    let none = s.get("/posts?search=nothing-like-this", None).await;
    assert_eq!(
        (&none.body["total"], &none.body["pages"]),
        (&json!(0), &json!(0))
    );

    for (query, fields) in [
        ("per_page=0", vec!["per_page"]),
        ("per_page=101", vec!["per_page"]),
        ("page=0", vec!["page"]),
        ("page=abc&per_page=-1", vec!["page", "per_page"]),
    ] {
        let bad = s.get(&format!("/posts?{query}"), None).await;
        assert_eq!(bad.fields(), fields, "{query}");
    }
    let long = s
        .send(
            s.client
                .get(s.url("/posts"))
                .query(&[("search", "x".repeat(201))]),
        )
        .await;
    assert_eq!(long.fields(), ["search"]);

    let one = s.get("/posts/23", None).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["title"], "other");
    assert_eq!(one.body["userId"], 3);
    s.get("/posts/31", None).await.problem(404);
    s.get("/posts/abc", None).await.problem(404);

    // If-None-Match with the current tag: 304, no body, same tag.
    let etag = a.headers["etag"].to_str().unwrap().to_owned();
    let same = s
        .send(s.client.get(s.url("/posts")).header("if-none-match", &etag))
        .await;
    assert_eq!(same.status, 304);
    assert!(same.text.is_empty());
    assert_eq!(same.headers["etag"], etag.as_str());
    let other_page = s
        .send(
            s.client
                .get(s.url("/posts?page=2"))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(other_page.status, 200, "another page has another tag");
    let stale_tag = s
        .send(
            s.client
                .get(s.url("/posts"))
                .header("if-none-match", "\"old\""),
        )
        .await;
    assert_eq!(stale_tag.status, 200);
    assert_eq!(upstream.count(), 1);
}

async fn admins_drop_the_cache(backend: TestBackend) {
    let upstream = Upstream::start(sample()).await;
    let s = server(backend, &upstream, LONG).await;
    let admin = s.admin_token(ADMIN).await;
    let user = s.user_token("reader@example.com").await;
    assert_eq!(x_cache(&s.get("/posts", None).await), "MISS");
    s.call("DELETE", "/admin/posts/cache", &user, None, &[])
        .await
        .problem(403);
    let anonymous = s.send(s.client.delete(s.url("/admin/posts/cache"))).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(x_cache(&s.get("/posts", None).await), "HIT");
    upstream.posts(Value::Array(vec![post(1, "changed upstream", "b")]));
    let dropped = s
        .call("DELETE", "/admin/posts/cache", &admin, None, &[])
        .await;
    assert_eq!(dropped.status, 204, "{}", dropped.text);
    let after = s.get("/posts", None).await;
    assert_eq!(
        (x_cache(&after), after.body["total"].as_u64()),
        ("MISS", Some(1))
    );
    assert_eq!(upstream.count(), 2);
}

/// A snapshot bigger than one DynamoDB item (400 KB) is stored in chunks
/// and read back whole by another process.
async fn a_large_snapshot_is_chunked(backend: TestBackend) {
    let posts: Vec<Value> = (1..=700)
        .map(|i| post(i, &format!("long post {i}"), &"é".repeat(1000)))
        .collect();
    let upstream = Upstream::start(Value::Array(posts)).await;
    let s = server(backend, &upstream, LONG).await;
    let first = s.get("/posts?page=70", None).await;
    assert_eq!(
        (first.status.as_u16(), x_cache(&first)),
        (200, "MISS"),
        "{}",
        &first.text[..200.min(first.text.len())]
    );
    let other = twin(&s).await;
    let second = get(&s.client, format!("{}/posts?page=70", other.url())).await;
    assert_eq!(x_cache(&second), "HIT");
    assert_eq!(second.body["total"], 700);
    assert_eq!(second.body["items"], first.body["items"]);
    assert_eq!(upstream.count(), 1);
}

on_both_backends!(
    a_cold_stampede_fetches_the_upstream_once,
    after_fresh_until_exactly_one_refresh,
    upstream_failures_give_the_documented_answers,
    search_paging_and_conditional_requests,
    admins_drop_the_cache,
    a_large_snapshot_is_chunked,
);

#[tokio::test(flavor = "multi_thread")]
async fn the_local_server_serves_sample_posts_offline() {
    let s = TestServer::start_on_with(TestBackend::Embedded, |mut c| {
        c.posts_api_url = None;
        c
    })
    .await;
    let a = s.get("/posts?per_page=100", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["total"], 100);
    let upstream = s.running.state.config.posts_api_url.clone().unwrap();
    assert!(upstream.starts_with("http://127.0.0.1:"), "{upstream}");
}
