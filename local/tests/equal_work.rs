//! Equal work for every answer (issue 26, item 5), black-box on both
//! backends: requests go to a server whose ports count every call
//! (`AppState::with_faults` with nothing armed), so "the same work" is the
//! same sequence of store, queue and mail calls, not a timing (the timings
//! are in `BENCHMARKS.md`).

mod common;

use std::sync::Arc;

use common::{PASSWORD, TestBackend, TestServer};
use edge::faults::{Faults, Kind, Plan};
use serde_json::{Value, json};

/// A server over the same data whose ports count their calls.
struct Counted {
    base: TestServer,
    counted: local::Running,
    faults: Arc<Faults>,
}

impl Counted {
    async fn start(backend: TestBackend, conceal: bool) -> Counted {
        let base = TestServer::start_on_with(backend, |mut c| {
            c.signup_conceals_existing = conceal.into();
            c
        })
        .await;
        let (counted, faults) = common::serve_faulty(&base);
        Counted {
            base,
            counted,
            faults,
        }
    }

    /// POSTs `body` to `path` and returns the answer with the calls it made.
    async fn post(&self, path: &str, body: Value) -> (common::Answer, Vec<&'static str>) {
        self.faults.arm(Plan::Count, Kind::Natural);
        let req = self
            .base
            .client
            .post(format!("{}{path}", self.counted.url()))
            .json(&body);
        let answer = self.base.send(req).await;
        (answer, self.faults.calls())
    }
}

/// Login reads as much for an address without an account as for one with
/// it: a timing cannot tell them apart.
async fn login_does_the_same_work_known_or_not(b: TestBackend) {
    let s = Counted::start(b, false).await;
    s.base.signup("known@example.com").await;
    let body = |email: &str| json!({ "email": email, "password": "not the password at all" });
    // Warm both paths once (a first call may set things up).
    s.post("/auth/login", body("known@example.com")).await;
    s.post("/auth/login", body("unknown@example.com")).await;
    let (known, known_calls) = s.post("/auth/login", body("known@example.com")).await;
    let (unknown, unknown_calls) = s.post("/auth/login", body("unknown@example.com")).await;
    assert_eq!(known.status, 401);
    assert_eq!((unknown.status, &unknown.text), (known.status, &known.text));
    assert_eq!(
        unknown_calls, known_calls,
        "an unknown address must cost what a known one does"
    );
    assert!(
        known_calls.iter().filter(|c| **c == "store.get").count() >= 2,
        "the account's reads are counted: {known_calls:?}"
    );
}

/// With `SIGNUP_CONCEALS_EXISTING`, a taken address gets exactly the answer
/// a free one gets, nothing is created, and the owner is mailed; the owner
/// of a never-verified account can take it over from that mail.
async fn a_concealing_signup_tells_nothing(b: TestBackend) {
    let s = Counted::start(b, true).await;
    let (first, _) = s
        .post(
            "/auth/signup",
            json!({ "email": "taken@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.text);
    let (fresh, fresh_calls) = s
        .post(
            "/auth/signup",
            json!({ "email": "fresh@example.com", "password": PASSWORD }),
        )
        .await;
    let (taken, taken_calls) = s
        .post(
            "/auth/signup",
            json!({ "email": "taken@example.com", "password": "another quiet harbor 19" }),
        )
        .await;
    assert_eq!((taken.status, &taken.text), (fresh.status, &fresh.text));
    assert_eq!(fresh.status, 202);
    // A taken username is told (usernames are public), and alike whether or
    // not the address is taken too: no probing addresses through it.
    let (named, _) = s
        .post(
            "/auth/signup",
            json!({ "email": "named@example.com", "password": PASSWORD, "username": "probe_name" }),
        )
        .await;
    assert_eq!(named.status, 202, "{}", named.text);
    let name_only = |email: &'static str| {
        s.post(
            "/auth/signup",
            json!({ "email": email, "password": PASSWORD, "username": "probe_name" }),
        )
    };
    let (free_address, _) = name_only("unused@example.com").await;
    let (taken_address, _) = name_only("taken@example.com").await;
    free_address.problem(409);
    assert_eq!(
        (taken_address.status, &taken_address.text),
        (free_address.status, &free_address.text)
    );
    assert!(fresh.headers.get("location").is_none() && taken.headers.get("location").is_none());
    // The same checks, hash and create transaction; the taken address then
    // records the owner's notice (one more write, measured in BENCHMARKS.md).
    let store_calls = |calls: &[&str]| calls.iter().filter(|c| c.starts_with("store.")).count();
    assert_eq!(
        store_calls(&taken_calls),
        store_calls(&fresh_calls) + 1,
        "fresh {fresh_calls:?}, taken {taken_calls:?}"
    );

    // Nothing was created or changed: the first password is still the one.
    // (Unverified accounts do not sign in while sign-up conceals, so the
    // owner proves the mailbox from the notice, with the current password.)
    let owner_mail = s
        .base
        .mailed_text("taken@example.com", "Someone tried to sign up")
        .await;
    assert!(
        owner_mail.contains("/reset-password") && owner_mail.contains("#token="),
        "what happened, how to get in, and (never verified) a link to take it: {owner_mail}"
    );
    let link = s
        .base
        .mailed_token("taken@example.com", "Someone tried to sign up")
        .await;
    s.base
        .login("taken@example.com", PASSWORD)
        .await
        .problem(401);
    let verified = s
        .base
        .post(
            "/auth/verify-email",
            json!({ "token": link, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        verified.status, 204,
        "the first password is the one: {}",
        verified.text
    );
    assert_eq!(
        s.base.login("taken@example.com", PASSWORD).await.status,
        200
    );
    s.base
        .login("taken@example.com", "another quiet harbor 19")
        .await
        .problem(401);
}

/// By default (the old services' clients expect it) sign-up still tells:
/// 201 for a free address, 409 for a taken one.
async fn by_default_signup_answers_201_and_409(b: TestBackend) {
    let s = Counted::start(b, false).await;
    let (new, _) = s
        .post(
            "/auth/signup",
            json!({ "email": "plain@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(new.status, 201, "{}", new.text);
    let (again, _) = s
        .post(
            "/auth/signup",
            json!({ "email": "plain@example.com", "password": PASSWORD }),
        )
        .await;
    again.problem(409);
    assert_eq!(
        s.base.login("plain@example.com", PASSWORD).await.status,
        200
    );
}

on_both_backends!(
    login_does_the_same_work_known_or_not,
    a_concealing_signup_tells_nothing,
    by_default_signup_answers_201_and_409,
);
