//! No lockouts (issue 26, item 4), black-box on both backends: OWASP's
//! device-cookie design. A device the account trusts is never locked by
//! others' failures; unknown devices share the lock; a locked owner on a new
//! device gets in through a mailed sign-in link; only failures count, so a
//! shared address (an office, a carrier's NAT) is not locked by its own
//! successes; and a stranger spending the reset allowance cannot stop the
//! owner's recovery.

mod common;

use std::time::Duration;

use common::{Answer, PASSWORD, TestBackend, TestServer, client_from};
use serde_json::{Value, json};
use shared::Config;

async fn server(b: TestBackend, adjust: impl FnOnce(Config) -> Config) -> TestServer {
    TestServer::start_on_with(b, adjust).await
}

async fn login(
    s: &TestServer,
    from: u8,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> Answer {
    let mut body = json!({ "email": email, "password": password });
    if let Some(d) = device {
        body["device_token"] = Value::String(d.to_owned());
    }
    s.send(client_from(from).post(s.url("/auth/login")).json(&body))
        .await
}

/// Strangers, from many addresses, until the account's allowance for
/// unknown devices is spent.
async fn lock(s: &TestServer, email: &str) {
    for n in 10..30 {
        login(s, n, email, "a wrong guess here", None).await;
    }
    let locked = login(s, 31, email, "a wrong guess here", None).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
}

fn mails_about(s: &TestServer, to: &str, subject: &str) -> usize {
    s.mails
        .to(to)
        .iter()
        .filter(|m| m.subject.contains(subject))
        .count()
}

/// Waits for the consumer to have sent everything queued.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

async fn a_trusted_device_is_never_locked_by_strangers(b: TestBackend) {
    let s = server(b, |mut c| {
        c.login_max_failures_per_client = 3.into();
        c.login_max_failures_per_account = 6.into();
        c
    })
    .await;
    s.signup("dev@example.com").await;
    let first = login(&s, 1, "dev@example.com", PASSWORD, None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let device = first.body["device_token"].as_str().unwrap().to_owned();
    lock(&s, "dev@example.com").await;
    // From any address, even one the strangers used: the device gets in.
    for from in [1, 10, 40] {
        let a = login(&s, from, "dev@example.com", PASSWORD, Some(&device)).await;
        assert_eq!(a.status, 200, "from {from}: {}", a.text);
        assert_eq!(a.body["device_token"], device.as_str(), "the same token");
    }
    // A device token of another account, or garbage, is no key.
    s.signup("other@example.com").await;
    let other = login(&s, 2, "other@example.com", PASSWORD, None).await;
    let foreign = other.body["device_token"].as_str().unwrap();
    for bad in [foreign, "garbage"] {
        let a = login(&s, 41, "dev@example.com", PASSWORD, Some(bad)).await;
        assert_eq!(a.status, 429, "{bad}: {}", a.text);
    }
    // The device's own failures still lock it.
    for _ in 0..3 {
        let a = login(
            &s,
            1,
            "dev@example.com",
            "its own wrong guess",
            Some(&device),
        )
        .await;
        assert_eq!(a.status, 401, "{}", a.text);
    }
    let own = login(&s, 1, "dev@example.com", PASSWORD, Some(&device)).await;
    own.problem(429);
    assert_eq!(own.body["type"], "/problems/too-many-requests");
}

async fn a_locked_owner_gets_in_by_the_mailed_link(b: TestBackend) {
    let s = server(b, |mut c| {
        c.login_max_failures_per_account = 6.into();
        c
    })
    .await;
    s.signup("locked@example.com").await;
    s.verify("locked@example.com").await;
    lock(&s, "locked@example.com").await;
    let refused = login(&s, 50, "locked@example.com", PASSWORD, None).await;
    refused.problem(429);
    assert_eq!(refused.body["type"], "/problems/locked-for-new-devices");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("sign-in link is on its way"),
        "{}",
        refused.text
    );
    assert!(refused.headers.contains_key("retry-after"));
    let token = s
        .mailed_token("locked@example.com", "Sign in to User Platform")
        .await;
    let text = s
        .mailed_text("locked@example.com", "Sign in to User Platform")
        .await;
    assert!(text.contains("/sign-in#token="), "{text}");
    // More 429s mail nothing more this window: the link stays the one.
    login(&s, 51, "locked@example.com", PASSWORD, None)
        .await
        .problem(429);
    settle().await;
    assert_eq!(mails_about(&s, "locked@example.com", "Sign in"), 1);

    let signed = s.post("/auth/login/link", json!({ "token": token })).await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    let access = signed.body["access_token"].as_str().unwrap();
    assert_eq!(s.get("/users/me", Some(access)).await.status, 200);
    let device = signed.body["device_token"].as_str().unwrap().to_owned();
    // Single use.
    s.post("/auth/login/link", json!({ "token": token }))
        .await
        .problem(400);
    assert_eq!(
        s.post("/auth/login/link", json!({})).await.fields(),
        ["token"]
    );
    // The device is trusted from now on, the lock notwithstanding.
    let a = login(&s, 50, "locked@example.com", PASSWORD, Some(&device)).await;
    assert_eq!(a.status, 200, "{}", a.text);

    // An address without an account gets the same 429 and mails no one.
    lock(&s, "ghost@example.com").await;
    let ghost = login(&s, 50, "ghost@example.com", PASSWORD, None).await;
    assert_eq!(ghost.body["type"], "/problems/locked-for-new-devices");
    settle().await;
    assert!(s.mails.to("ghost@example.com").is_empty());
}

/// Only failures count: one address signing in successfully all day is
/// never refused; its failures still are.
async fn successes_do_not_count(b: TestBackend) {
    let s = server(b, |mut c| {
        c.login_max_failures_per_ip = 5.into();
        c.login_max_failures_per_client = 5.into();
        c
    })
    .await;
    for n in 0..4 {
        s.signup(&format!("office{n}@example.com")).await;
    }
    for round in 0..6 {
        for n in 0..4 {
            let a = login(&s, 60, &format!("office{n}@example.com"), PASSWORD, None).await;
            assert_eq!(a.status, 200, "round {round}, office{n}: {}", a.text);
        }
    }
    for _ in 0..5 {
        let a = login(&s, 60, "office0@example.com", "wrong wrong wrong", None).await;
        assert_eq!(a.status, 401, "{}", a.text);
    }
    login(&s, 60, "office1@example.com", PASSWORD, None)
        .await
        .problem(429);
}

/// A stranger spending an address's reset allowance gets the usual answer
/// and mails nothing more: the owner's newest link still works, and the
/// owner's trusted device has an allowance of its own.
async fn a_stranger_cannot_stop_the_owners_reset(b: TestBackend) {
    let s = server(b, |mut c| {
        c.resets_per_email_per_hour = 2.into();
        c.resets_per_ip_per_hour = 100.into();
        c
    })
    .await;
    s.signup("recover@example.com").await;
    let device = login(&s, 1, "recover@example.com", PASSWORD, None)
        .await
        .body["device_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reset = |from: u8, device: Option<&str>| {
        let mut body = json!({ "email": "recover@example.com" });
        if let Some(d) = device {
            body["device_token"] = Value::String(d.to_owned());
        }
        s.send(
            client_from(from)
                .post(s.url("/auth/password-reset"))
                .json(&body),
        )
    };
    for from in 70..76 {
        assert_eq!(reset(from, None).await.status, 202);
    }
    s.mailed_token("recover@example.com", "Reset").await;
    settle().await;
    assert_eq!(
        mails_about(&s, "recover@example.com", "Reset"),
        2,
        "no more than the allowance"
    );
    let newest = s.mailed_token("recover@example.com", "Reset").await;
    // The owner's device asks too: its own allowance, a new mail (and the
    // newest link).
    assert_eq!(reset(1, Some(&device)).await.status, 202);
    for _ in 0..100 {
        if mails_about(&s, "recover@example.com", "Reset") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mails_about(&s, "recover@example.com", "Reset"), 3);
    let owners = s.mailed_token("recover@example.com", "Reset").await;
    assert_ne!(owners, newest);
    let done = s
        .post(
            "/auth/password-reset/confirm",
            json!({ "token": owners, "new_password": "granite otter symphony 88" }),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    // A reset ends the trust of every device: it signed in with the old
    // password, or under the address, and is a stranger until it signs in
    // again.
    lock(&s, "recover@example.com").await;
    let a = login(
        &s,
        1,
        "recover@example.com",
        "granite otter symphony 88",
        Some(&device),
    )
    .await;
    assert_eq!(a.status, 429, "{}", a.text);
}

on_both_backends!(
    a_trusted_device_is_never_locked_by_strangers,
    a_locked_owner_gets_in_by_the_mailed_link,
    successes_do_not_count,
    a_stranger_cannot_stop_the_owners_reset,
);
