//! Trustworthy accounts, black-box on both backends, reading the links from
//! the mails the mailer port sent: email verification, the admin bootstrap,
//! password reset, email change, login limits under concurrency and
//! against strangers, one-write logout-all, the session cap.

mod common;

use std::time::Duration;

use common::{Answer, PASSWORD, TestBackend, TestServer, client_from};
use serde_json::json;
use shared::Config;

const NEW_PASSWORD: &str = "granite otter symphony 88";

async fn server(b: TestBackend, adjust: impl FnOnce(Config) -> Config) -> TestServer {
    TestServer::start_on_with(b, adjust).await
}

async fn login_from(
    s: &TestServer,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> Answer {
    s.send(
        client
            .post(s.url("/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

fn access(a: &Answer) -> String {
    a.body["access_token"].as_str().unwrap().to_owned()
}

async fn status_with(s: &TestServer, token: &str) -> u16 {
    s.get("/users/me", Some(token)).await.status.as_u16()
}

async fn verification_flow(b: TestBackend) {
    let s = server(b, |c| c).await;
    let user = s.signup("vera@example.com").await;
    assert_eq!(user["email_verified"], false);
    let first = s.mailed_token("vera@example.com", "Welcome").await;
    let token = s.user_token_of("vera@example.com").await;
    let claims = s.running.state.tokens.verify(&token).unwrap();
    assert!(!claims.email_verified);

    // A new link replaces the first.
    let resend = s
        .post_auth("/auth/verify-email/resend", &token, json!({}))
        .await;
    assert_eq!(resend.status, 202, "{}", resend.text);
    let second = s
        .mailed_token("vera@example.com", "Confirm your address")
        .await;
    assert_ne!(first, second);
    let superseded = s
        .post(
            "/auth/verify-email",
            json!({ "password": PASSWORD, "token": first }),
        )
        .await;
    let problem = superseded.problem(400).clone();

    let ok = s
        .post(
            "/auth/verify-email",
            json!({ "password": PASSWORD, "token": second }),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    // Used, garbage, and a token of another purpose: the same answer.
    for bad in [second.clone(), "garbage".into(), "A".repeat(43)] {
        let a = s
            .post(
                "/auth/verify-email",
                json!({ "password": PASSWORD, "token": bad }),
            )
            .await;
        assert_eq!(a.problem(400), &problem, "{bad}");
    }
    assert_eq!(
        s.post("/auth/verify-email", json!({})).await.fields(),
        vec!["token", "password"]
    );

    let token = s.user_token_of("vera@example.com").await;
    let claims = s.running.state.tokens.verify(&token).unwrap();
    assert!(claims.email_verified, "a standard claim in access tokens");
    let me = s.get("/users/me", Some(&token)).await;
    assert_eq!(me.body["email_verified"], true);
    let again = s
        .post_auth("/auth/verify-email/resend", &token, json!({}))
        .await;
    again.problem(409);
}

async fn a_listed_address_is_admin_only_once_verified(b: TestBackend) {
    let s = server(b, |mut c| {
        c.admin_emails = vec!["chief@example.com".into()];
        c
    })
    .await;
    let chief = s.admin_token("chief@example.com").await;
    assert_eq!(s.get("/admin/users", Some(&chief)).await.status, 200);
    // The admin leaves; a newcomer takes the address: a user until they
    // verify it themselves.
    let gone = s
        .call(
            "DELETE",
            "/users/me",
            &chief,
            Some(json!({ "password": PASSWORD })),
            &[],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let old_link = s.mailed_token("chief@example.com", "Welcome").await;
    let newcomer = s.signup("chief@example.com").await;
    assert_eq!(newcomer["role"], "user");
    let t = s.user_token_of("chief@example.com").await;
    assert_eq!(s.get("/admin/users", Some(&t)).await.status, 403);
    // The old account's link is no use: only the newcomer's own works.
    s.post(
        "/auth/verify-email",
        json!({ "password": PASSWORD, "token": old_link }),
    )
    .await
    .problem(400);
    // Bounded: the new mail comes within seconds or the test fails.
    let mut new_link = None;
    for _ in 0..200 {
        let t = s.mailed_token("chief@example.com", "Welcome").await;
        if t != old_link {
            new_link = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_link = new_link.expect("no second welcome mail within 10 s");
    let ok = s
        .post(
            "/auth/verify-email",
            json!({ "password": PASSWORD, "token": new_link }),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    let t = s.user_token_of("chief@example.com").await;
    assert_eq!(s.get("/admin/users", Some(&t)).await.status, 200);
}

async fn password_reset_ends_every_session(b: TestBackend) {
    let s = server(b, |c| c).await;
    s.signup("rita@example.com").await;
    let sessions: Vec<Answer> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let a = s.login("rita@example.com", PASSWORD).await;
            assert_eq!(a.status, 200);
            v.push(a);
        }
        v
    };
    let asked = s
        .post("/auth/password-reset", json!({"email": "rita@example.com"}))
        .await;
    let unknown = s
        .post(
            "/auth/password-reset",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!((asked.status.as_u16(), unknown.status.as_u16()), (202, 202));
    assert_eq!(asked.text, unknown.text, "indistinguishable");
    let token = s.mailed_token("rita@example.com", "Reset").await;

    // Weak passwords follow the signup rules; the token stays usable.
    let weak = s
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": "password123"}),
        )
        .await;
    assert_eq!(weak.fields(), vec!["new_password"]);
    let done = s
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    for a in &sessions {
        assert_eq!(status_with(&s, &access(a)).await, 403, "every session ends");
        let refreshed = s
            .post(
                "/auth/refresh",
                json!({"refresh_token": a.body["refresh_token"]}),
            )
            .await;
        refreshed.problem(401);
    }
    s.login("rita@example.com", PASSWORD).await.problem(401);
    assert_eq!(s.login("rita@example.com", NEW_PASSWORD).await.status, 200);
    s.mailed_token("rita@example.com", "Reset").await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while !s
            .mails
            .to("rita@example.com")
            .iter()
            .any(|m| m.subject == "Your password was changed")
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a notice of the change is mailed");
    // Used: refused like any other.
    let reused = s
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": "another quiet harbor 19"}),
        )
        .await;
    reused.problem(400);
    assert!(s.mails.to("nobody@example.com").is_empty());
    let t = access(&s.login("rita@example.com", NEW_PASSWORD).await);
    let export = s.get("/users/me/export", Some(&t)).await;
    assert!(
        export.body["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "password.reset"),
        "the reset is audited"
    );
}

async fn expired_and_foreign_tokens_are_refused(b: TestBackend) {
    let s = server(b, |c| c).await;
    s.signup("ezra@example.com").await;
    let verify_token = s.mailed_token("ezra@example.com", "Welcome").await;
    s.post("/auth/password-reset", json!({"email": "ezra@example.com"}))
        .await;
    let reset_token = s.mailed_token("ezra@example.com", "Reset").await;
    let body = |t: &str| json!({"token": t, "new_password": NEW_PASSWORD});
    // Another purpose's token.
    let foreign = s
        .post("/auth/password-reset/confirm", body(&verify_token))
        .await;
    let problem = foreign.problem(400).clone();
    // Expired: its stored expiry passes (the store ignores expired items).
    let state = &s.running.state;
    let key = shared::ports::Key::new(
        format!("OTT#{}", shared::secrets::token_hash(&reset_token)),
        "OTT",
    );
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    state
        .store
        .update(
            key,
            vec![shared::ports::Change::Set("expires_at".into(), json!(past))],
            None,
        )
        .await
        .unwrap();
    let expired = s
        .post("/auth/password-reset/confirm", body(&reset_token))
        .await;
    assert_eq!(expired.problem(400), &problem);
    s.login("ezra@example.com", PASSWORD).await;
    assert_eq!(s.login("ezra@example.com", PASSWORD).await.status, 200);
}

async fn email_change_moves_the_claim_and_loses_a_race(b: TestBackend) {
    let s = server(b, |c| c).await;
    s.signup("old@example.com").await;
    let t = s.user_token_of("old@example.com").await;
    let wrong = s
        .post_auth(
            "/users/me/email",
            &t,
            json!({"new_email": "new@example.com", "password": "not it at all"}),
        )
        .await;
    assert_eq!(wrong.fields(), vec!["password"]);
    let asked = s
        .post_auth(
            "/users/me/email",
            &t,
            json!({"new_email": "new@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let token = s
        .mailed_token("new@example.com", "Confirm your new address")
        .await;
    let notice = s.mailed_text("old@example.com", "change of address").await;
    assert!(
        notice.contains("new@example.com"),
        "the old address is told: {notice}"
    );
    // Until confirmed, the old address stays.
    assert_eq!(s.login("old@example.com", PASSWORD).await.status, 200);
    let done = s
        .post(
            "/auth/email-change/confirm",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    s.login("old@example.com", PASSWORD).await.problem(401);
    let t = s.user_token_of("new@example.com").await;
    let me = s.get("/users/me", Some(&t)).await;
    assert_eq!(
        (
            me.body["email"].as_str(),
            me.body["email_verified"].as_bool()
        ),
        (Some("new@example.com"), Some(true))
    );
    // The old address is free again.
    s.signup("old@example.com").await;

    // A race: someone takes the address between the request and the confirmation.
    let asked = s
        .post_auth(
            "/users/me/email",
            &t,
            json!({"new_email": "contested@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(asked.status, 202);
    let token = s
        .mailed_token("contested@example.com", "Confirm your new address")
        .await;
    s.signup("contested@example.com").await;
    let lost = s
        .post(
            "/auth/email-change/confirm",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    lost.problem(409);
    let me = s.get("/users/me", Some(&t)).await;
    assert_eq!(me.body["email"], "new@example.com", "unchanged");
}

async fn a_stranger_cannot_lock_the_owner_out(b: TestBackend) {
    let s = server(b, |mut c| {
        c.login_max_failures_per_client = 3.into();
        c.login_max_failures_per_account = 6.into();
        c
    })
    .await;
    s.signup("owner@example.com").await;
    let usual = client_from(1);
    let first = login_from(&s, &usual, "owner@example.com", PASSWORD).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let device = first.body["device_token"].as_str().unwrap().to_owned();
    // A stranger guesses from many addresses until every limit bites.
    for n in 10..20 {
        let stranger = client_from(n);
        for _ in 0..4 {
            login_from(&s, &stranger, "owner@example.com", "a wrong guess here").await;
        }
    }
    let stranger = client_from(21);
    assert_eq!(
        login_from(&s, &stranger, "owner@example.com", "a wrong guess here")
            .await
            .status,
        429,
        "strangers are out of guesses"
    );
    // The owner's device is not, from any address: its own failures are
    // all that count.
    let owner = s
        .send(client_from(22).post(s.url("/auth/login")).json(
            &json!({"email": "owner@example.com", "password": PASSWORD, "device_token": device}),
        ))
        .await;
    assert_eq!(owner.status, 200, "{}", owner.text);
    // A new device of the owner's waits with the strangers… until a reset
    // (or the mailed sign-in link: `local/tests/lockout.rs`).
    let new_device = client_from(30);
    assert_eq!(
        login_from(&s, &new_device, "owner@example.com", PASSWORD)
            .await
            .status,
        429
    );
    s.post(
        "/auth/password-reset",
        json!({"email": "owner@example.com"}),
    )
    .await;
    let token = s.mailed_token("owner@example.com", "Reset").await;
    let reset = s
        .post(
            "/auth/password-reset/confirm",
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.text);
    assert_eq!(
        login_from(&s, &new_device, "owner@example.com", NEW_PASSWORD)
            .await
            .status,
        200
    );
}

async fn logout_all_is_one_write_for_any_number_of_sessions(b: TestBackend) {
    let s = server(b, |c| c).await;
    s.signup("many@example.com").await;
    let state = s.running.state.clone();
    let email = shared::domain::Email::parse("many@example.com").unwrap();
    let user = state.users.find_by_email(&email).await.unwrap().unwrap();
    let client = edge::http::ClientInfo::default();
    let mut tokens = Vec::new();
    for _ in 0..200 {
        let issued = state
            .sessions
            .start(&user.id, &client, "login.succeeded")
            .await
            .unwrap();
        tokens.push(state.tokens.issue(&user, &issued.session.id).unwrap().0);
    }
    for t in [&tokens[0], &tokens[199]] {
        assert_eq!(status_with(&s, t).await, 200);
    }
    // Count the store calls of the request on a server whose ports count.
    let faults = edge::faults::Faults::new();
    let counted = edge::wiring::with_faults(&state, &faults);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = local::serve(counted, listener, false);
    faults.arm(edge::faults::Plan::Count, Default::default());
    let r = s
        .send(
            s.client
                .post(format!("{}/auth/logout-all", server.url()))
                .bearer_auth(&tokens[0]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let calls = faults.calls();
    let writes: Vec<_> = calls
        .iter()
        .filter(|c| ["store.write", "store.transact"].contains(c))
        .collect();
    assert_eq!(writes, vec![&"store.transact"], "one write: {calls:?}");
    for t in &tokens {
        let v = s.post("/auth/validate-token", json!({ "token": t })).await;
        assert_eq!(v.status, 401, "every access token is dead");
    }
}

async fn the_session_cap_holds(b: TestBackend) {
    let s = server(b, |mut c| {
        c.max_sessions_per_user = 5.into();
        c
    })
    .await;
    s.signup("capped@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(s.user_token_of("capped@example.com").await);
    }
    let sessions = s.get("/auth/sessions", Some(&tokens[7])).await;
    let live = sessions.body["items"]
        .as_array()
        .or(sessions.body.as_array())
        .unwrap()
        .iter()
        .filter(|s| s["active"] == true)
        .count();
    assert_eq!(live, 5, "{}", sessions.text);
    for (i, t) in tokens.iter().enumerate() {
        let expected = if i < 3 { 403 } else { 200 };
        assert_eq!(status_with(&s, t).await, expected, "session {i}");
    }
}

async fn signups_and_resets_are_limited_per_client(b: TestBackend) {
    let s = server(b, |mut c| {
        c.signups_per_ip_per_hour = 3.into();
        c.resets_per_email_per_hour = 2.into();
        c.resets_per_ip_per_hour = 3.into();
        c
    })
    .await;
    let here = client_from(40);
    let signup = |n: usize, client: &reqwest::Client| {
        s.send(
            client
                .post(s.url("/auth/signup"))
                .json(&json!({"email": format!("many{n}@example.com"), "password": PASSWORD})),
        )
    };
    for n in 0..3 {
        assert_eq!(signup(n, &here).await.status, 201);
    }
    let refused = signup(3, &here).await;
    refused.problem(429);
    assert!(refused.headers.contains_key("retry-after"));
    // Another client is not affected.
    assert_eq!(signup(4, &client_from(41)).await.status, 201);

    let reset = |email: &str, client: &reqwest::Client| {
        s.send(
            client
                .post(s.url("/auth/password-reset"))
                .json(&json!({ "email": email })),
        )
    };
    let asker = client_from(42);
    assert_eq!(reset("many0@example.com", &asker).await.status, 202);
    assert_eq!(reset("many0@example.com", &asker).await.status, 202);
    // Per address asked for, from any client, whether or not it has an
    // account: past it the answer is the same and nothing more is mailed
    // (`local/tests/lockout.rs` counts the mails).
    let past = reset("many0@example.com", &client_from(43)).await;
    assert_eq!(past.status, 202, "{}", past.text);
    assert_eq!(reset("ghost@example.com", &asker).await.status, 202);
    // Per client, whatever the address.
    reset("many1@example.com", &asker).await.problem(429);
}

on_both_backends!(
    signups_and_resets_are_limited_per_client,
    verification_flow,
    a_listed_address_is_admin_only_once_verified,
    password_reset_ends_every_session,
    expired_and_foreign_tokens_are_refused,
    email_change_moves_the_claim_and_loses_a_race,
    a_stranger_cannot_lock_the_owner_out,
    logout_all_is_one_write_for_any_number_of_sessions,
    the_session_cap_holds,
);
