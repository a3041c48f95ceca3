//! User events end to end, on both backends: the outbox survives a queue
//! outage, the relay sends each record once even when two run at once, the
//! consumer is idempotent and reports only failed messages, poison messages
//! are dead-lettered and redriven, and no event carries a secret.

mod common;

use edge::wiring::EmbeddedParts;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{PASSWORD, TestBackend, TestServer, state};
use serde_json::{Value, json};
use shared::AppState;
use shared::events::UserEvent;
use shared::outbox::Outbox;
use shared::ports::MAX_RECEIVES;
use shared::ports::{Mail, MailError, Mailer, Queue, QueueError, Received};

on_both_backends!(
    signup_survives_a_queue_outage_and_the_relay_delivers_later,
    two_relays_at_once_send_each_record_once,
    one_relay_sends_in_order_of_occurrence,
    duplicate_deliveries_have_one_effect,
    a_poison_message_fails_alone_and_is_dead_lettered,
    events_carry_no_secrets_and_deletion_cleans_up,
);

/// A queue that is down.
struct DownQueue;

#[async_trait]
impl Queue for DownQueue {
    async fn send(&self, _: &str) -> Result<String, QueueError> {
        Err(QueueError::Unavailable("down for the test".into()))
    }
    async fn receive(&self, _: u32, _: Duration) -> Result<Vec<Received>, QueueError> {
        Err(QueueError::Unavailable("down for the test".into()))
    }
    async fn delete(&self, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("down".into()))
    }
    async fn change_visibility(&self, _: &str, _: Duration) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("down".into()))
    }
    async fn redrive_dead_letters(&self) -> Result<u32, QueueError> {
        Err(QueueError::Unavailable("down".into()))
    }
    async fn dead_letter_count(&self) -> Result<u32, QueueError> {
        Err(QueueError::Unavailable("down".into()))
    }
    async fn health(&self) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("down".into()))
    }
}

/// Counts mails per recipient, then sends them on.
struct CountingMailer {
    inner: Arc<dyn Mailer>,
    sent: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    calls: AtomicUsize,
}

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let id = self.inner.send(mail).await?;
        *self
            .sent
            .lock()
            .unwrap()
            .entry(mail.to.clone())
            .or_default() += 1;
        Ok(id)
    }
}

fn with_queue(state: &Arc<AppState>, queue: Arc<dyn Queue>) -> Arc<AppState> {
    let mut s = (**state).clone();
    s.outbox = Outbox::new(s.store.clone(), queue.clone(), *s.config.outbox_lease);
    s.queue = queue;
    Arc::new(s)
}

fn counting(
    state: &Arc<AppState>,
) -> (Arc<AppState>, Arc<std::sync::Mutex<HashMap<String, usize>>>) {
    let sent = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let mut s = (**state).clone();
    s.mailer = Arc::new(CountingMailer {
        inner: state.mailer.clone(),
        sent: sent.clone(),
        calls: AtomicUsize::new(0),
    });
    (Arc::new(s), sent)
}

async fn signup(state: &Arc<AppState>, email: &str) -> Value {
    let req = bench_like_post(
        "/auth/signup",
        &json!({"email": email, "password": PASSWORD}),
    );
    let response = signup::handle(state.clone(), req).await;
    let lambda_http::Body::Text(text) = response.body() else {
        panic!("text body")
    };
    assert_eq!(response.status(), 201, "{text}");
    serde_json::from_str(text).unwrap()
}

fn bench_like_post(path: &str, body: &Value) -> lambda_http::Request {
    local::api_event::ApiEvent::new("POST", path)
        .json(body)
        .source_ip("127.0.0.1")
        .request()
}

/// Receives everything currently in the queue (and deletes it).
async fn drain(state: &AppState) -> Vec<Received> {
    let mut all = Vec::new();
    for _ in 0..20 {
        let batch = state
            .queue
            .receive(10, Duration::from_secs(60))
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        for m in &batch {
            state.queue.delete(&m.receipt).await.unwrap();
        }
        all.extend(batch);
    }
    all
}

async fn deliver_all(state: &Arc<AppState>) -> usize {
    let consumer = local::routes::user_events_consumer();
    let mut n = 0;
    // Bounded: a message that fails every time would come back forever.
    for _ in 0..200 {
        let d = local::consumer::deliver_once(state, consumer, Duration::ZERO).await;
        if d.received == 0 {
            return n;
        }
        n += d.succeeded;
    }
    panic!("the queue did not drain in 200 deliveries ({n} handled)");
}

fn settings_of(user_id: &str) -> shared::ports::Key {
    user_events::settings_key(user_id)
}

/// The relay, run as the scheduled function (its AWS calls are checked
/// against its role: tests/deploy/iam_check.py).
async fn relay(state: &AppState) -> Result<Value, String> {
    local::ports::run_as("outbox-relay", outbox_relay::run(state)).await
}

async fn signup_survives_a_queue_outage_and_the_relay_delivers_later(b: TestBackend) {
    let (_d, state) = state(b).await;
    let broken = with_queue(&state, Arc::new(DownQueue));
    let user = signup(&broken, "outage@example.com").await;
    assert_eq!(
        state.outbox.pending().await.unwrap(),
        1,
        "kept in the outbox"
    );
    assert!(drain(&state).await.is_empty(), "nothing reached the queue");
    // The queue is back: one relay run delivers the event, once.
    let relayed = relay(&state).await.unwrap();
    assert_eq!(relayed["sent"], 1);
    assert_eq!(state.outbox.pending().await.unwrap(), 0);
    let (counted, mails) = counting(&state);
    assert_eq!(deliver_all(&counted).await, 1);
    let uid = user["id"].as_str().unwrap();
    assert!(
        state.store.get(&settings_of(uid)).await.unwrap().is_some(),
        "settings created"
    );
    assert_eq!(mails.lock().unwrap().get("outage@example.com"), Some(&1));
    assert_eq!(
        relay(&state).await.unwrap()["sent"],
        0,
        "nothing sent twice"
    );
}

async fn two_relays_at_once_send_each_record_once(b: TestBackend) {
    let (_d, state) = state(b).await;
    let broken = with_queue(&state, Arc::new(DownQueue));
    for i in 0..12 {
        signup(&broken, &format!("r{i}@example.com")).await;
    }
    assert_eq!(state.outbox.pending().await.unwrap(), 12);
    let (a, b2) = tokio::join!(relay(&state), relay(&state));
    let sent = a.unwrap()["sent"].as_u64().unwrap() + b2.unwrap()["sent"].as_u64().unwrap();
    assert_eq!(sent, 12);
    let messages = drain(&state).await;
    let mut ids: Vec<String> = messages
        .iter()
        .map(|m| serde_json::from_str::<UserEvent>(&m.body).unwrap().event_id)
        .collect();
    assert_eq!(ids.len(), 12, "each record sent once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
}

/// Records what is sent, in the order it is sent.
struct RecordingQueue {
    inner: Arc<dyn Queue>,
    sent: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Queue for RecordingQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        self.sent.lock().unwrap().push(body.to_owned());
        self.inner.send(body).await
    }
    async fn receive(&self, max: u32, v: Duration) -> Result<Vec<Received>, QueueError> {
        self.inner.receive(max, v).await
    }
    async fn delete(&self, r: &str) -> Result<(), QueueError> {
        self.inner.delete(r).await
    }
    async fn change_visibility(&self, r: &str, v: Duration) -> Result<(), QueueError> {
        self.inner.change_visibility(r, v).await
    }
    async fn redrive_dead_letters(&self) -> Result<u32, QueueError> {
        self.inner.redrive_dead_letters().await
    }
    async fn dead_letter_count(&self) -> Result<u32, QueueError> {
        self.inner.dead_letter_count().await
    }
    async fn health(&self) -> Result<(), QueueError> {
        self.inner.health().await
    }
}

/// One relay sends what the outage held back in the order it happened
/// (what the queue then does with the order is the queue's business: SQS
/// standard queues do not keep it).
async fn one_relay_sends_in_order_of_occurrence(b: TestBackend) {
    let (_d, state) = state(b).await;
    let broken = with_queue(&state, Arc::new(DownQueue));
    let mut signed_up = Vec::new();
    for i in 0..12 {
        signed_up.push(signup(&broken, &format!("o{i}@example.com")).await["id"].clone());
    }
    let recorder = Arc::new(RecordingQueue {
        inner: state.queue.clone(),
        sent: Default::default(),
    });
    let recording = with_queue(&state, recorder.clone());
    assert_eq!(outbox_relay::run(&recording).await.unwrap()["sent"], 12);
    let sent: Vec<UserEvent> = recorder
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let users: Vec<Value> = sent.iter().map(|e| json!(e.user_id)).collect();
    assert_eq!(users, signed_up, "sent in the order the users signed up");
    let times: Vec<_> = sent.iter().map(|e| e.occurred_at).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}

async fn duplicate_deliveries_have_one_effect(b: TestBackend) {
    let (_d, state) = state(b).await;
    let user = signup(&state, "twice@example.com").await;
    let messages = drain(&state).await;
    assert_eq!(messages.len(), 1);
    // Deliver the very same message three times, in separate batches.
    for _ in 0..3 {
        state.queue.send(&messages[0].body).await.unwrap();
    }
    let (counted, mails) = counting(&state);
    assert_eq!(deliver_all(&counted).await, 3, "all acknowledged");
    assert_eq!(
        mails.lock().unwrap().get("twice@example.com"),
        Some(&1),
        "one welcome mail"
    );
    let uid = user["id"].as_str().unwrap();
    let settings = state.store.get(&settings_of(uid)).await.unwrap().unwrap();
    assert_eq!(settings["locale"], "en");
    if let Some(parts) = state.extras.get::<EmbeddedParts>() {
        let eml: Vec<_> = parts.mail.list().unwrap();
        assert_eq!(eml.len(), 1, "one .eml file");
        assert!(
            std::fs::read_to_string(&eml[0])
                .unwrap()
                .contains("Subject: Welcome to User Platform")
        );
    }
}

async fn a_poison_message_fails_alone_and_is_dead_lettered(b: TestBackend) {
    let s = TestServer::start_quiet(b).await;
    let state = s.running.state.clone();
    // A batch of good, poison, good: only the poison message is reported.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../events/user-events.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(sample).unwrap();
    let response = user_events::handle(state.clone(), event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["9f0c4c2a-3c3e-4a55-9c1e-2a3b4c5d6e7f"]);
    // Why it failed is logged: the reason names the position, never the
    // body's contents (serde_json's own text quotes the input).
    let reason = user_events::handle_message(
        &state,
        r#"{"event_id": "e1", "version": "secret@example.com"}"#,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        reason.starts_with("not a user event (line 1, column "),
        "{reason}"
    );
    assert!(!reason.contains("secret"), "{reason}");

    // Through the queue: the poison message is retried, then dead-lettered.
    state.queue.send("{\"event_id\": 42}").await.unwrap();
    for _ in 0..MAX_RECEIVES {
        let d = local::consumer::deliver_once(
            &state,
            local::routes::user_events_consumer(),
            Duration::ZERO,
        )
        .await;
        assert_eq!((d.received, d.failed.len()), (1, 1));
    }
    assert_eq!(
        local::consumer::deliver_once(
            &state,
            local::routes::user_events_consumer(),
            Duration::ZERO
        )
        .await
        .received,
        0
    );
    assert_eq!(state.queue.dead_letter_count().await.unwrap(), 1);

    // An admin redrives it over HTTP; non-admins cannot.
    let admin_email = "ops@example.com";
    let mut config = s.config.clone();
    config.admin_emails = vec![admin_email.into()];
    let s = s.restart_with(move |_| config).await;
    let user = s.user_token("someone@example.com").await;
    let r = s
        .client
        .post(s.url("/admin/events/redrive"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let admin = s.admin_token(admin_email).await;
    let waiting = s.get("/admin/events/dead-letters", Some(&admin)).await;
    assert_eq!(waiting.status, 200, "{}", waiting.text);
    assert_eq!(waiting.body["count"], 1);
    assert_eq!(
        s.get("/admin/events/dead-letters", Some(&user))
            .await
            .status,
        403
    );
    let r = s
        .client
        .post(s.url("/admin/events/redrive"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["moved"], 1);
    let state = s.running.state.clone();
    assert_eq!(state.queue.dead_letter_count().await.unwrap(), 0);
    let none = s.get("/admin/events/dead-letters", Some(&admin)).await;
    assert_eq!(none.body["count"], 0);
    let back = drain(&state).await;
    assert!(
        back.iter().any(|m| m.body == "{\"event_id\": 42}"),
        "back in the queue"
    );
}

async fn events_carry_no_secrets_and_deletion_cleans_up(b: TestBackend) {
    let s = TestServer::start_quiet(b).await;
    let state = s.running.state.clone();
    let token = s.user_token("secret@example.com").await;
    let login = s.login("secret@example.com", PASSWORD).await;
    let refresh_token = login.body["refresh_token"].as_str().unwrap().to_owned();
    let patch = s
        .client
        .patch(s.url("/users/me"))
        .bearer_auth(&token)
        .json(&json!({"name": "Sec"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    let new = "granite otter symphony 88";
    let pw = s
        .client
        .post(s.url("/auth/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": PASSWORD, "new_password": new}))
        .send()
        .await
        .unwrap();
    assert_eq!(pw.status(), 204);
    let messages = drain(&state).await;
    let kinds: Vec<String> = messages
        .iter()
        .map(|m| serde_json::from_str::<UserEvent>(&m.body).unwrap().kind)
        .collect();
    assert_eq!(
        kinds,
        ["user.created", "user.updated", "user.password_changed"]
    );
    for m in &messages {
        let e: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(e["version"], 1);
        for field in ["event_id", "type", "occurred_at", "user_id", "data"] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
        for secret in [
            "argon2",
            "password_hash",
            PASSWORD,
            new,
            &token,
            &refresh_token,
        ] {
            assert!(!m.body.contains(secret), "{} leaks a secret", e["type"]);
        }
    }
    // Re-queue the creation and deliver it; then delete the account: the
    // consumer removes the settings on user.deleted.
    state.queue.send(&messages[0].body).await.unwrap();
    deliver_all(&state).await;
    let uid = serde_json::from_str::<UserEvent>(&messages[0].body)
        .unwrap()
        .user_id;
    assert!(state.store.get(&settings_of(&uid)).await.unwrap().is_some());
    let del = s
        .client
        .delete(s.url("/users/me"))
        .bearer_auth(&token)
        .json(&json!({"password": new}))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(deliver_all(&state).await, 1, "user.deleted delivered");
    assert!(state.store.get(&settings_of(&uid)).await.unwrap().is_none());
}
