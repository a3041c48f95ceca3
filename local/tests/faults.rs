//! Faults at every call of every flow that writes, on both backends.
//!
//! Each flow first runs with nothing failing, to learn the calls it makes
//! (item store, blobs, queue, mail, in order); then once per call, on a
//! fresh fixture, with that one call failing the way the real service fails
//! (`edge::faults`), and once per kind of call with every call of that
//! kind failing (an outage). After every run:
//! - each answer is the flow's success (2xx) or a `problem+json` 503 with
//!   `Retry-After`; for a call the authorizer makes, API Gateway's own 500
//!   (a failed authorizer invocation, which it does not cache);
//! - the store's invariants hold at once (every user has its email claim
//!   and each claim its user; stock plus copies sold equals what was
//!   stocked; every blob a record names exists), and, once the outbox relay
//!   and the `user-events` consumer have run, nothing is kept for a user
//!   who does not exist and nothing is left in the outbox;
//! - a failed run repeated without the fault succeeds.
//!
//! The server under test serves the same data as a quiet test server
//! through ports wrapped by `AppState::with_faults`; fixtures are made and
//! invariants read through the unwrapped state.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Answer, PASSWORD, TestBackend, TestServer};
use edge::faults::{Faults, Kind, Plan};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use shared::AppState;
use shared::ports::Attrs;

const ADMIN: &str = "root@example.com";

struct Rig {
    base: TestServer,
    faulty: local::Running,
    faults: Arc<Faults>,
    admin: String,
    /// The port calls the authorizer makes before any handler runs,
    /// counted (`GET /auth/me`'s handler makes none), not written down.
    authorizer_calls: usize,
    /// Copies put in stock per book, to check stock + sold.
    stocked: Mutex<HashMap<String, i64>>,
    next: AtomicUsize,
}

/// What one step of a flow gave.
enum Outcome {
    /// An HTTP answer; `protected` when the authorizer ran first.
    Http { answer: Answer, protected: bool },
    /// A background job (relay, consumer): Ok when it did all its work.
    Job(Result<(), String>),
}

type Fixture = Value;
type Setup = for<'a> fn(&'a Rig) -> BoxFuture<'a, Fixture>;
type Run = for<'a> fn(&'a Rig, &'a Fixture) -> BoxFuture<'a, Outcome>;

struct Flow {
    name: &'static str,
    setup: Setup,
    run: Run,
}

macro_rules! flow {
    ($name:literal, $setup:ident, $run:ident) => {
        Flow {
            name: $name,
            setup: |r| Box::pin($setup(r)),
            run: |r, f| Box::pin($run(r, f)),
        }
    };
}

impl Rig {
    async fn new(backend: TestBackend) -> Rig {
        let base = TestServer::start_quiet_with(backend, |mut c| {
            c.admin_emails = vec![ADMIN.into()];
            // A sender that failed half-way holds an outbox record this
            // long; `settle` waits it out.
            c.outbox_lease = Duration::from_secs(1).into();
            c
        })
        .await;
        let (faulty, faults) = common::serve_faulty(&base);
        let admin = base.admin_token(ADMIN).await;
        faults.arm(Plan::Count, Kind::Natural);
        let me = base
            .send(
                base.client
                    .get(format!("{}/auth/me", faulty.url()))
                    .bearer_auth(&admin),
            )
            .await;
        let authorizer_calls = faults.calls().len();
        faults.disarm();
        assert_eq!(me.status, 200, "{}", me.text);
        assert!(authorizer_calls > 0, "the authorizer made no port call");
        Rig {
            base,
            faulty,
            faults,
            admin,
            authorizer_calls,
            stocked: Mutex::default(),
            next: AtomicUsize::new(0),
        }
    }

    fn state(&self) -> &Arc<AppState> {
        &self.base.running.state
    }

    fn faulty_state(&self) -> &Arc<AppState> {
        &self.faulty.state
    }

    /// A request to the server whose ports fail.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Outcome {
        let mut req = self.base.client.request(
            method.parse().unwrap(),
            format!("{}{path}", self.faulty.url()),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Outcome::Http {
            answer: self.base.send(req).await,
            protected: token.is_some(),
        }
    }

    fn email(&self) -> String {
        format!("f{}@example.com", self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// A signed-up, logged-in user (through the unwrapped server).
    async fn account(&self) -> Fixture {
        let email = self.email();
        let user = self.base.signup(&email).await;
        let login = self.base.login(&email, PASSWORD).await;
        assert_eq!(login.status, 200, "{}", login.text);
        json!({
            "email": email,
            "user_id": user["id"],
            "token": login.body["access_token"],
            "refresh": login.body["refresh_token"],
        })
    }

    async fn book(&self, stock: i64) -> String {
        let a = self
            .base
            .call(
                "POST",
                "/books",
                &self.admin,
                Some(
                    json!({"title": format!("Book {}", self.email()), "author": "A. Writer",
                    "price_cents": 1250, "stock": stock}),
                ),
                &[],
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        let id = a.body["id"].as_str().unwrap().to_owned();
        self.stocked.lock().unwrap().insert(id.clone(), stock);
        id
    }

    /// Runs the relay and the consumer until they have nothing left, as
    /// the schedules would, through the unwrapped ports; then nothing may
    /// be left in the dead-letter queue (a consumer failure a fault caused
    /// would otherwise go unseen).
    async fn settle(&self) -> Result<(), String> {
        let state = self.state();
        for _ in 0..30 {
            outbox_relay::run(state).await.unwrap();
            if state.outbox.pending().await.unwrap() == 0 {
                break;
            }
            // A record still leased by a sender that failed after sending.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let consumer = local::routes::user_events_consumer();
        for _ in 0..30 {
            let d = local::consumer::deliver_once(state, consumer, Duration::ZERO).await;
            if d.received == 0 {
                let dead = state
                    .queue
                    .dead_letter_count()
                    .await
                    .map_err(|e| e.to_string())?;
                return match dead {
                    0 => Ok(()),
                    n => Err(format!("{n} message(s) in the dead-letter queue")),
                };
            }
        }
        Err("the queue did not drain".into())
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

// ---- the flows -------------------------------------------------------------

async fn fresh_email(r: &Rig) -> Fixture {
    json!({ "email": r.email() })
}

async fn signup(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "POST",
        "/auth/signup",
        None,
        Some(json!({"email": f["email"], "password": PASSWORD, "name": "Fay"})),
    )
    .await
}

async fn signed_up(r: &Rig) -> Fixture {
    let email = r.email();
    let user = r.base.signup(&email).await;
    json!({ "email": email, "user_id": user["id"] })
}

async fn login(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "POST",
        "/auth/login",
        None,
        Some(json!({"email": f["email"], "password": PASSWORD})),
    )
    .await
}

async fn account(r: &Rig) -> Fixture {
    r.account().await
}

async fn refresh(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "POST",
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": f["refresh"]})),
    )
    .await
}

async fn logout(r: &Rig, f: &Fixture) -> Outcome {
    r.call("POST", "/auth/logout", Some(s(&f["token"])), None)
        .await
}

async fn account_with_sessions(r: &Rig) -> Fixture {
    let f = r.account().await;
    for _ in 0..2 {
        assert_eq!(r.base.login(s(&f["email"]), PASSWORD).await.status, 200);
    }
    f
}

async fn logout_all(r: &Rig, f: &Fixture) -> Outcome {
    r.call("POST", "/auth/logout-all", Some(s(&f["token"])), None)
        .await
}

async fn change_password(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "POST",
        "/auth/password",
        Some(s(&f["token"])),
        Some(json!({"current_password": PASSWORD, "new_password": "granite otter symphony 88"})),
    )
    .await
}

async fn edit_profile(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "PATCH",
        "/users/me",
        Some(s(&f["token"])),
        Some(json!({"name": "Edited", "bio": "changed under faults"})),
    )
    .await
}

/// A user with a bit of everything: tasks, an order, a PDF, an avatar.
async fn full_account(r: &Rig) -> Fixture {
    let f = r.account().await;
    let t = s(&f["token"]);
    let task = r
        .base
        .call("POST", "/tasks", t, Some(json!({"title": "to go"})), &[])
        .await;
    assert_eq!(task.status, 201, "{}", task.text);
    let book = r.book(3).await;
    let order = r
        .base
        .call(
            "POST",
            "/orders",
            t,
            Some(json!({"items": [{"book_id": book, "quantity": 1}]})),
            &[],
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    let pdf = r.base.call("POST", "/users/me/pdf", t, None, &[]).await;
    assert_eq!(pdf.status, 201, "{}", pdf.text);
    let avatar = r
        .base
        .send(
            r.base
                .client
                .put(r.base.url("/users/me/avatar"))
                .bearer_auth(t)
                .header("content-type", "image/png")
                .body(png()),
        )
        .await;
    assert_eq!(avatar.status, 200, "{}", avatar.text);
    f
}

async fn delete_account(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "DELETE",
        "/users/me",
        Some(s(&f["token"])),
        Some(json!({"password": PASSWORD})),
    )
    .await
}

async fn create_task(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "POST",
        "/tasks",
        Some(s(&f["token"])),
        Some(json!({"title": "written under faults", "status": "todo"})),
    )
    .await
}

async fn account_with_task(r: &Rig) -> Fixture {
    let mut f = r.account().await;
    let a = r
        .base
        .call(
            "POST",
            "/tasks",
            s(&f["token"]),
            Some(json!({"title": "existing"})),
            &[],
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    f["task_id"] = a.body["id"].clone();
    f
}

async fn edit_task(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "PATCH",
        &format!("/tasks/{}", s(&f["task_id"])),
        Some(s(&f["token"])),
        Some(json!({"status": "done"})),
    )
    .await
}

async fn delete_task(r: &Rig, f: &Fixture) -> Outcome {
    // A delete repeated after it happened is a 404 by design: the repeat
    // check reads "gone" as success (see `repeat_ok`).
    r.call(
        "DELETE",
        &format!("/tasks/{}", s(&f["task_id"])),
        Some(s(&f["token"])),
        None,
    )
    .await
}

async fn buyer_and_book(r: &Rig) -> Fixture {
    let mut f = r.account().await;
    f["book_id"] = json!(r.book(5).await);
    f
}

async fn order(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "POST",
        "/orders",
        Some(s(&f["token"])),
        Some(json!({"items": [{"book_id": f["book_id"], "quantity": 2}]})),
    )
    .await
}

async fn a_book(r: &Rig) -> Fixture {
    json!({ "book_id": r.book(4).await, "token": r.admin })
}

async fn edit_book(r: &Rig, f: &Fixture) -> Outcome {
    r.call(
        "PATCH",
        &format!("/books/{}", s(&f["book_id"])),
        Some(s(&f["token"])),
        Some(json!({"title": "Retitled under faults", "price_cents": 1999})),
    )
    .await
}

async fn generate_pdf(r: &Rig, f: &Fixture) -> Outcome {
    r.call("POST", "/users/me/pdf", Some(s(&f["token"])), None)
        .await
}

/// A small opaque PNG.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

async fn upload_avatar(r: &Rig, f: &Fixture) -> Outcome {
    let req = r
        .base
        .client
        .put(format!("{}/users/me/avatar", r.faulty.url()))
        .bearer_auth(s(&f["token"]))
        .header("content-type", "image/png")
        .body(png());
    Outcome::Http {
        answer: r.base.send(req).await,
        protected: true,
    }
}

/// A presigned upload that landed (the object is in the bucket; S3's
/// notification is the flow).
async fn landed_upload(r: &Rig) -> Fixture {
    let mut f = r.account().await;
    let bytes = png();
    let a = r
        .base
        .call(
            "POST",
            "/users/me/avatar/upload-url",
            s(&f["token"]),
            Some(json!({"content_type": "image/png", "content_length": bytes.len()})),
            &[],
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let record = r
        .state()
        .avatars
        .upload_record(s(&f["user_id"]))
        .await
        .unwrap()
        .unwrap();
    r.state()
        .blobs
        .put(
            &record.key,
            bytes.into(),
            &shared::ports::Served::upload("image/png"),
        )
        .await
        .unwrap();
    f["key"] = json!(record.key);
    f
}

/// `media-process` on the landed object, as S3's notification invokes it
/// (S3 retries a failed asynchronous invocation: the repeat).
async fn process_upload(r: &Rig, f: &Fixture) -> Outcome {
    let result = media_process::process_upload(r.faulty_state(), s(&f["key"])).await;
    let user = r
        .state()
        .users
        .get(s(&f["user_id"]))
        .await
        .unwrap()
        .unwrap();
    Outcome::Job(match result {
        Ok(()) if user.avatar.is_some() => Ok(()),
        Ok(()) => Err("processed, but no avatar installed".into()),
        Err(e) => Err(e.to_string()),
    })
}

/// An event left in the outbox: its signup met a queue outage.
async fn unsent_event(r: &Rig) -> Fixture {
    r.settle().await.expect("settled before the fixture");
    let email = r.email();
    r.faults.arm(Plan::Every("queue.send"), Kind::Natural);
    let a = signup(r, &json!({ "email": email })).await;
    r.faults.disarm();
    let Outcome::Http { answer, .. } = a else {
        unreachable!()
    };
    assert_eq!(answer.status, 201, "a queue outage does not fail signup");
    assert_eq!(r.state().outbox.pending().await.unwrap(), 1);
    json!({ "email": email })
}

/// The relay's run; Ok when the event left the outbox. (A repeat after a
/// failure comes after `settle`, which plays the next scheduled runs.)
async fn relay(r: &Rig, _: &Fixture) -> Outcome {
    let result = outbox_relay::run(r.faulty_state()).await;
    let pending = r.state().outbox.pending().await.unwrap_or(usize::MAX);
    Outcome::Job(match result {
        Ok(_) if pending == 0 => Ok(()),
        Ok(v) => Err(format!("{pending} left in the outbox: {v}")),
        Err(e) => Err(e),
    })
}

/// A `user.created` event waiting in the queue.
async fn queued_event(r: &Rig) -> Fixture {
    r.settle().await.expect("settled before the fixture");
    let email = r.email();
    let user = r.base.signup(&email).await;
    json!({ "email": email, "user_id": user["id"] })
}

/// One delivery; Ok when the user's settings exist and the message is
/// handled. (A repeat after a failure comes after `settle`, which plays
/// the redeliveries, so it finds the work done and the queue empty.)
async fn consume(r: &Rig, f: &Fixture) -> Outcome {
    let consumer = local::routes::user_events_consumer();
    let d = local::consumer::deliver_once(r.faulty_state(), consumer, Duration::ZERO).await;
    let settings = r
        .state()
        .store
        .get(&user_events::settings_key(s(&f["user_id"])))
        .await
        .unwrap();
    let handled = d.failed.is_empty() && d.succeeded == d.received;
    Outcome::Job(if handled && settings.is_some() {
        Ok(())
    } else {
        Err(format!("{d:?}, settings stored: {}", settings.is_some()))
    })
}

fn flows() -> Vec<Flow> {
    vec![
        flow!("signup", fresh_email, signup),
        flow!("login", signed_up, login),
        flow!("refresh", account, refresh),
        flow!("logout", account, logout),
        flow!("logout-all", account_with_sessions, logout_all),
        flow!("password change", account, change_password),
        flow!("profile edit", account, edit_profile),
        flow!("account deletion", full_account, delete_account),
        flow!("task create", account, create_task),
        flow!("task edit", account_with_task, edit_task),
        flow!("task delete", account_with_task, delete_task),
        flow!("order", buyer_and_book, order),
        flow!("book edit", a_book, edit_book),
        flow!("pdf", account, generate_pdf),
        flow!("avatar", account, upload_avatar),
        flow!("avatar upload processing", landed_upload, process_upload),
        flow!("outbox relay", unsent_event, relay),
        flow!("consumer", queued_event, consume),
    ]
}

// ---- the checks ------------------------------------------------------------

fn success(o: &Outcome) -> bool {
    match o {
        Outcome::Http { answer, .. } => answer.status.is_success(),
        Outcome::Job(r) => r.is_ok(),
    }
}

/// Whether a repeat of a run succeeded: a 2xx, or for a delete the 404
/// that says it is already done.
fn repeat_ok(flow: &str, o: &Outcome) -> bool {
    success(o)
        || matches!(o, Outcome::Http { answer, .. }
            if flow == "task delete" && answer.status == 404)
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Http { answer, .. } => format!("{} {}", answer.status, answer.text),
        Outcome::Job(r) => format!("{r:?}"),
    }
}

/// The answer to a run with `injected` failing is acceptable; the first
/// `authorizer_calls` port calls are the authorizer's.
fn acceptable(
    o: &Outcome,
    injected: &[(usize, &str)],
    authorizer_calls: usize,
) -> Result<(), String> {
    let Outcome::Http { answer, protected } = o else {
        // A job may fail; the schedule or SQS runs it again.
        return Ok(());
    };
    let status = answer.status.as_u16();
    if answer.status.is_success() {
        return Ok(());
    }
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if status == 503
        && content_type == "application/problem+json"
        && answer.body["status"] == 503
        && answer.headers.contains_key("retry-after")
    {
        return Ok(());
    }
    let in_authorizer = *protected && injected.iter().any(|(n, _)| *n < authorizer_calls);
    if status == 500 && in_authorizer && answer.body == json!({"message": "Internal Server Error"})
    {
        return Ok(());
    }
    Err(format!(
        "answered {status} ({content_type}): {}",
        answer.text
    ))
}

/// The invariants that hold at every moment.
async fn check_now(r: &Rig, items: &[Attrs]) -> Result<(), String> {
    let str_of = |i: &Attrs, a: &str| {
        i.get(a)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut users: HashMap<String, (String, Option<Value>)> = HashMap::new();
    let mut email_claims: HashMap<String, String> = HashMap::new();
    let mut sold: HashMap<String, i64> = HashMap::new();
    let mut stock: HashMap<String, i64> = HashMap::new();
    let mut pdf_records = Vec::new();
    for i in items {
        let (pk, sk) = (str_of(i, "pk"), str_of(i, "sk"));
        if let (Some(id), "PROFILE") = (pk.strip_prefix("USER#"), sk.as_str()) {
            users.insert(
                id.to_owned(),
                (str_of(i, "email"), i.get("avatar").cloned()),
            );
        } else if let (Some(email), "EMAIL") = (pk.strip_prefix("EMAIL#"), sk.as_str()) {
            email_claims.insert(email.to_owned(), str_of(i, "user_id"));
        } else if let (Some(id), "BOOK") = (pk.strip_prefix("BOOK#"), sk.as_str()) {
            stock.insert(id.to_owned(), i["stock"].as_i64().unwrap_or(-1));
        } else if pk.starts_with("ORDERS#") && sk.starts_with("ORDER#") {
            for line in i["lines"].as_array().into_iter().flatten() {
                *sold.entry(s(&line["book_id"]).to_owned()).or_default() +=
                    line["quantity"].as_i64().unwrap_or(0);
            }
        } else if let (Some(id), "PROFILE_PDF") = (pk.strip_prefix("USER#"), sk.as_str()) {
            pdf_records.push(id.to_owned());
        }
    }
    for (id, (email, _)) in &users {
        if email_claims.get(email) != Some(id) {
            return Err(format!("user {id} ({email}) without its email claim"));
        }
    }
    for (email, id) in &email_claims {
        if users.get(id).map(|u| &u.0) != Some(email) {
            return Err(format!("email claim {email} of a missing user {id}"));
        }
    }
    for (book, stocked) in r.stocked.lock().unwrap().iter() {
        let (now, sold) = (
            stock.get(book).copied().unwrap_or(0),
            sold.get(book).copied().unwrap_or(0),
        );
        if now + sold != *stocked || now < 0 {
            return Err(format!(
                "book {book}: {now} in stock + {sold} sold ≠ {stocked} stocked"
            ));
        }
    }
    let blobs = &r.state().blobs;
    for (id, (_, avatar)) in &users {
        if let Some(a) = avatar.as_ref().filter(|a| !a.is_null()) {
            for key in [s(&a["key"]), s(&a["thumbnail_key"])] {
                if blobs.get(key).await.map_err(|e| e.to_string())?.is_none() {
                    return Err(format!("user {id}'s avatar names a missing blob {key}"));
                }
            }
        }
    }
    for id in pdf_records {
        let key = shared::profile_pdf::blob_key(&id);
        if blobs.get(&key).await.map_err(|e| e.to_string())?.is_none() {
            return Err(format!("user {id}'s PDF record names a missing blob"));
        }
    }
    Ok(())
}

/// What holds once the relay and the consumer have done their work.
async fn check_settled(r: &Rig, items: &[Attrs]) -> Result<(), String> {
    let users: HashSet<String> = items
        .iter()
        .filter(|i| i["sk"] == "PROFILE")
        .filter_map(|i| i["pk"].as_str()?.strip_prefix("USER#").map(str::to_owned))
        .collect();
    for i in items {
        let pk = s(&i["pk"]);
        let owner = ["USER#", "TASKS#", "ORDERS#", "AUDIT#"]
            .iter()
            .find_map(|p| pk.strip_prefix(p))
            .or_else(|| {
                i.get("user_id")
                    .and_then(Value::as_str)
                    .filter(|_| pk.starts_with("REFRESH#"))
            });
        if let Some(owner) = owner
            && !["ANON", "TRAIL", "ERASED"].contains(&owner)
            && !users.contains(owner)
        {
            return Err(format!(
                "{pk} / {} kept for a user who is gone",
                s(&i["sk"])
            ));
        }
        if i.get("gsi1pk").and_then(Value::as_str) == Some("OUTBOX#UNSENT") {
            return Err(format!("{pk} still in the outbox"));
        }
    }
    for prefix in ["avatars/", "pdfs/"] {
        for key in r
            .state()
            .blobs
            .list(prefix)
            .await
            .map_err(|e| e.to_string())?
        {
            let owner = key[prefix.len()..].split('/').next().unwrap_or_default();
            if !users.contains(owner) {
                return Err(format!("blob {key} kept for a user who is gone"));
            }
        }
    }
    Ok(())
}

async fn invariants(r: &Rig) -> Result<(), String> {
    let items = r
        .state()
        .store
        .scan_all()
        .await
        .map_err(|e| e.to_string())?;
    check_now(r, &items)
        .await
        .map_err(|e| format!("at once: {e}"))?;
    r.settle().await.map_err(|e| format!("settling: {e}"))?;
    let items = r
        .state()
        .store
        .scan_all()
        .await
        .map_err(|e| e.to_string())?;
    check_now(r, &items)
        .await
        .map_err(|e| format!("settled: {e}"))?;
    check_settled(r, &items)
        .await
        .map_err(|e| format!("settled: {e}"))
}

/// Runs one flow at every fault point; returns how many it exercised.
async fn exercise(r: &Rig, flow: &Flow, failures: &mut Vec<String>) -> usize {
    let fixture = (flow.setup)(r).await;
    r.faults.arm(Plan::Count, Kind::Natural);
    let baseline = (flow.run)(r, &fixture).await;
    let calls = r.faults.calls();
    r.faults.disarm();
    assert!(
        success(&baseline),
        "{}: fails without a fault: {}",
        flow.name,
        describe(&baseline)
    );
    if let Err(e) = invariants(r).await {
        failures.push(format!("{} without a fault: {e}", flow.name));
    }
    // One call failing at a time, then each operation failing throughout
    // (an outage of that service call).
    let mut plans: Vec<Plan> = (0..calls.len()).map(Plan::Nth).collect();
    let mut ops = calls.clone();
    ops.sort_unstable();
    ops.dedup();
    plans.extend(ops.into_iter().map(Plan::Every));
    let mut points = 0;
    for plan in plans {
        let fixture = (flow.setup)(r).await;
        let n = match &plan {
            Plan::Nth(n) => format!("#{n}"),
            _ => "throughout".to_owned(),
        };
        r.faults.arm(plan, Kind::Natural);
        let outcome = (flow.run)(r, &fixture).await;
        let injected = r.faults.injected();
        r.faults.disarm();
        if injected.is_empty() {
            // The run took another path than the fault-free one: this
            // point was planned and never tested.
            failures.push(format!(
                "{} call {n}: planned, nothing injected ({} calls without a fault)",
                flow.name,
                calls.len()
            ));
            continue;
        }
        points += 1;
        let at = format!("{} with {} {n} failing", flow.name, injected[0].1);
        if let Err(e) = acceptable(&outcome, &injected, r.authorizer_calls) {
            failures.push(format!("{at}: {e}"));
        }
        if let Outcome::Job(Err(_)) = &outcome {
            // A job's repeat is its next run (the schedule's, SQS's
            // redelivery), before anything else runs it: `settle` would
            // do its work and leave the repeat nothing to prove.
            if let Err(e) = repeat_job(r, flow, &fixture).await {
                failures.push(format!("{at}: {e}"));
            }
            if let Err(e) = invariants(r).await {
                failures.push(format!("{at}, after the repeat: {e}"));
            }
            continue;
        }
        if let Err(e) = invariants(r).await {
            failures.push(format!("{at}: {e}"));
        }
        if !success(&outcome) {
            let again = (flow.run)(r, &fixture).await;
            if !repeat_ok(flow.name, &again) {
                failures.push(format!("{at}: the repeat failed: {}", describe(&again)));
            }
            if let Err(e) = invariants(r).await {
                failures.push(format!("{at}, after the repeat: {e}"));
            }
        }
    }
    points
}

/// Runs a job again until it does its work, as its schedule or SQS would
/// (a record a failed sender holds is free after the outbox lease, 1 s
/// here; a message the consumer failed is visible again at once); an error
/// when 20 runs over 5 s do not.
async fn repeat_job(r: &Rig, flow: &Flow, fixture: &Fixture) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..20 {
        match (flow.run)(r, fixture).await {
            Outcome::Job(Ok(())) => return Ok(()),
            other => last = describe(&other),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!("the repeated runs never did the work: {last}"))
}

async fn every_write_flow_survives_a_fault_at_every_call(backend: TestBackend) {
    let mut failures = Vec::new();
    let mut total = 0;
    let mut per_flow = Vec::new();
    for flow in flows() {
        // A fresh table per flow keeps the invariant scans small.
        let rig = Rig::new(backend).await;
        let points = exercise(&rig, &flow, &mut failures).await;
        assert!(points > 0, "{}: no fault point", flow.name);
        per_flow.push(format!("{} {points}", flow.name));
        total += points;
    }
    // Past the test harness's capture: the count is part of the report.
    let _ = writeln!(
        std::io::stderr(),
        "fault suite ({backend:?}): {total} fault points over {} flows ({})",
        per_flow.len(),
        per_flow.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} of {total} fault points went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

on_both_backends!(every_write_flow_survives_a_fault_at_every_call);

// ---- lost replies and keyed retries ----------------------------------------

type Check = for<'a> fn(&'a Rig, &'a Fixture, &'a Answer) -> BoxFuture<'a, Result<(), String>>;

/// A write a client retries with its `Idempotency-Key`.
struct Keyed {
    name: &'static str,
    setup: Setup,
    method: &'static str,
    path: fn(&Fixture) -> String,
    /// The bearer token, if the route is protected.
    token: fn(&Rig, &Fixture) -> Option<String>,
    body: fn(&Fixture) -> Option<Value>,
    /// The status of a success.
    status: u16,
    /// That the store holds exactly one effect, the one the answer names.
    check: Check,
}

fn one_id(ids: Vec<String>, answer: &Answer) -> Result<(), String> {
    if ids == [s(&answer.body["id"]).to_owned()] {
        Ok(())
    } else {
        Err(format!("written {ids:?}, answered {}", answer.body["id"]))
    }
}

async fn one_task(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    let (tasks, _) = r
        .state()
        .tasks
        .list(s(&f["user_id"]), None, 100, None)
        .await
        .unwrap();
    one_id(tasks.into_iter().map(|t| t.id).collect(), a)
}

async fn one_order(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    let (orders, _) = r
        .state()
        .shop
        .orders(s(&f["user_id"]), 100, None)
        .await
        .unwrap();
    one_id(orders.into_iter().map(|o| o.id).collect(), a)
}

async fn one_book(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    let (books, _) = r.state().shop.books(100, None).await.unwrap();
    let ids = books
        .into_iter()
        .filter(|b| b.title.as_str() == s(&f["title"]))
        .map(|b| b.id)
        .collect();
    one_id(ids, a)
}

async fn one_account(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    let email = shared::domain::Email::parse(s(&f["email"])).unwrap();
    let user = r.state().users.find_by_email(&email).await.unwrap();
    one_id(user.into_iter().map(|u| u.id).collect(), a)
}

/// One save: version 2, inactive, as answered.
async fn deactivated_once(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    let user = r.state().users.get(s(&f["user_id"])).await.unwrap();
    match user {
        Some(u) if !u.active && u.version == 2 && a.body["version"] == 2 => Ok(()),
        other => Err(format!("stored {other:?}, answered {}", a.text)),
    }
}

async fn deleted(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    match r.state().users.get(s(&f["user_id"])).await.unwrap() {
        None if a.text.is_empty() => Ok(()),
        other => Err(format!("stored {other:?}, answered {}", a.text)),
    }
}

/// The pending upload is the one whose URL was answered.
async fn one_upload(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    let record = r
        .state()
        .store
        .get(&shared::table_keys::avatar_upload(s(&f["user_id"])))
        .await
        .unwrap()
        .ok_or("no upload record")?;
    if s(&a.body["url"]).contains(s(&record["key"])) {
        Ok(())
    } else {
        Err(format!("record {record:?}, answered {}", a.text))
    }
}

/// The PDF's record is the one answered.
async fn one_pdf(r: &Rig, f: &Fixture, a: &Answer) -> Result<(), String> {
    let record = r
        .state()
        .pdfs
        .record(s(&f["user_id"]))
        .await
        .unwrap()
        .ok_or("no PDF record")?;
    let b = &a.body;
    if b["generated"] == true
        && b["size_bytes"] == record.size_bytes
        && b["profile_version"] == record.profile_version
    {
        Ok(())
    } else {
        Err(format!("record {record:?}, answered {}", a.text))
    }
}

async fn book_title(r: &Rig) -> Fixture {
    json!({ "title": format!("Kept {}", r.email()), "token": r.admin })
}

/// A user for the admin to act on.
async fn a_user(r: &Rig) -> Fixture {
    let mut f = r.account().await;
    f["token"] = json!(r.admin);
    f
}

fn bearer(_: &Rig, f: &Fixture) -> Option<String> {
    Some(s(&f["token"]).to_owned())
}

fn keyed_flows() -> Vec<Keyed> {
    vec![
        Keyed {
            name: "create task",
            setup: |r| Box::pin(r.account()),
            method: "POST",
            path: |_| "/tasks".into(),
            token: bearer,
            body: |_| Some(json!({"title": "retried", "status": "todo"})),
            status: 201,
            check: |r, f, a| Box::pin(one_task(r, f, a)),
        },
        Keyed {
            name: "order",
            setup: |r| Box::pin(buyer_and_book(r)),
            method: "POST",
            path: |_| "/orders".into(),
            token: bearer,
            body: |f| Some(json!({"items": [{"book_id": f["book_id"], "quantity": 2}]})),
            status: 201,
            check: |r, f, a| Box::pin(one_order(r, f, a)),
        },
        Keyed {
            name: "create book",
            setup: |r| Box::pin(book_title(r)),
            method: "POST",
            path: |_| "/books".into(),
            token: bearer,
            body: |f| {
                Some(
                    json!({"title": f["title"], "author": "A. Writer", "price_cents": 990, "stock": 0}),
                )
            },
            status: 201,
            check: |r, f, a| Box::pin(one_book(r, f, a)),
        },
        Keyed {
            name: "sign-up",
            setup: |r| Box::pin(fresh_email(r)),
            method: "POST",
            path: |_| "/auth/signup".into(),
            token: |_, _| None,
            body: |f| Some(json!({"email": f["email"], "password": PASSWORD, "name": "Fay"})),
            status: 201,
            check: |r, f, a| Box::pin(one_account(r, f, a)),
        },
        Keyed {
            name: "avatar upload URL",
            setup: |r| Box::pin(r.account()),
            method: "POST",
            path: |_| "/users/me/avatar/upload-url".into(),
            token: bearer,
            body: |_| Some(json!({"content_type": "image/png", "content_length": 4321})),
            status: 201,
            check: |r, f, a| Box::pin(one_upload(r, f, a)),
        },
        Keyed {
            name: "profile PDF",
            setup: |r| Box::pin(r.account()),
            method: "POST",
            path: |_| "/users/me/pdf".into(),
            token: bearer,
            body: |_| None,
            status: 201,
            check: |r, f, a| Box::pin(one_pdf(r, f, a)),
        },
        Keyed {
            name: "admin deactivates",
            setup: |r| Box::pin(a_user(r)),
            method: "POST",
            path: |f| format!("/admin/users/{}/deactivate", s(&f["user_id"])),
            token: bearer,
            body: |_| None,
            status: 200,
            check: |r, f, a| Box::pin(deactivated_once(r, f, a)),
        },
        Keyed {
            name: "admin deletes",
            setup: |r| Box::pin(a_user(r)),
            method: "DELETE",
            path: |f| format!("/admin/users/{}", s(&f["user_id"])),
            token: bearer,
            body: |_| None,
            status: 204,
            check: |r, f, a| Box::pin(deleted(r, f, a)),
        },
    ]
}

impl Rig {
    /// The keyed request of `flow` to the server whose ports fail.
    async fn keyed(&self, flow: &Keyed, f: &Fixture, key: &str) -> Answer {
        let mut req = self
            .base
            .client
            .request(
                flow.method.parse().unwrap(),
                format!("{}{}", self.faulty.url(), (flow.path)(f)),
            )
            .header("idempotency-key", key);
        if let Some(t) = (flow.token)(self, f) {
            req = req.bearer_auth(t);
        }
        if let Some(b) = (flow.body)(f) {
            req = req.json(&b);
        }
        self.base.send(req).await
    }
}

fn replayed(a: &Answer) -> bool {
    a.headers.get("idempotent-replayed").is_some()
}

/// Every write of a keyed flow applied with its reply lost, then the
/// client's retry with the same key: one effect, and the retry (and any
/// later one) answers what was written. Returns the points exercised.
async fn lose_each_reply(r: &Rig, flow: &Keyed, failures: &mut Vec<String>) -> usize {
    let fixture = (flow.setup)(r).await;
    r.faults.arm(Plan::Count, Kind::Lost);
    let baseline = r.keyed(flow, &fixture, "baseline").await;
    let calls = r.faults.calls();
    r.faults.disarm();
    assert_eq!(
        baseline.status, flow.status,
        "{}: {}",
        flow.name, baseline.text
    );
    // The authorizer's calls come first on a protected route.
    let first = if (flow.token)(r, &fixture).is_some() {
        r.authorizer_calls
    } else {
        0
    };
    let writes: Vec<usize> = (first..calls.len())
        .filter(|&i| matches!(calls[i], "store.write" | "store.transact"))
        .collect();
    let mut replays = 0;
    for &n in &writes {
        let fixture = (flow.setup)(r).await;
        let key = format!("lost-{n}");
        let at = format!(
            "{}, {} #{n} applied and its reply lost",
            flow.name, calls[n]
        );
        r.faults.arm(Plan::Nth(n), Kind::Lost);
        let answer = r.keyed(flow, &fixture, &key).await;
        let injected = r.faults.injected();
        r.faults.disarm();
        if injected.is_empty() {
            failures.push(format!("{at}: planned, nothing injected"));
            continue;
        }
        // A write after the commit (an event's dispatch mark) that fails is
        // the relay's to finish: the answer is then already the success.
        let answered = answer.status == flow.status;
        if !answered && (answer.status != 503 || !answer.headers.contains_key("retry-after")) {
            failures.push(format!("{at}: answered {} {}", answer.status, answer.text));
        }
        let retry = r.keyed(flow, &fixture, &key).await;
        let again = r.keyed(flow, &fixture, &key).await;
        if retry.status != flow.status {
            failures.push(format!(
                "{at}: the retry answered {} {}",
                retry.status, retry.text
            ));
            continue;
        }
        if let Err(e) = (flow.check)(r, &fixture, &retry).await {
            failures.push(format!("{at}: {e}"));
        }
        if !replayed(&again) || again.text != retry.text || again.status != retry.status {
            failures.push(format!(
                "{at}: a second retry answered {} {}",
                again.status, again.text
            ));
        }
        if answered && (!replayed(&retry) || retry.text != answer.text) {
            failures.push(format!(
                "{at}: answered, then the retry answered {}",
                retry.text
            ));
        }
        replays += usize::from(replayed(&retry) && !answered);
        if let Err(e) = invariants(r).await {
            failures.push(format!("{at}: {e}"));
        }
    }
    // The case the keys are for: the commit itself was lost, and the
    // retry replayed its answer.
    if replays == 0 {
        failures.push(format!(
            "{}: no lost reply was replayed ({} write points)",
            flow.name,
            writes.len()
        ));
    }
    writes.len()
}

async fn a_lost_reply_replays_on_retry(backend: TestBackend) {
    let mut failures = Vec::new();
    let mut per_flow = Vec::new();
    for flow in keyed_flows() {
        let rig = Rig::new(backend).await;
        let points = lose_each_reply(&rig, &flow, &mut failures).await;
        assert!(points >= 2, "{}: {points} write points", flow.name);
        per_flow.push(format!("{} {points}", flow.name));
    }
    let _ = writeln!(
        std::io::stderr(),
        "lost replies ({backend:?}): {}",
        per_flow.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

on_both_backends!(a_lost_reply_replays_on_retry);
