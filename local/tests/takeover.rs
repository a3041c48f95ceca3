//! No takeovers (issue 26, items 1–3 and 6), black-box on both backends,
//! reading the links from the mails sent:
//! - every change that ends an account's sessions (password reset or
//!   change, logout-all, deactivation, verification, a confirmed address
//!   change) ends every pending one-time link of the account too;
//! - a pre-hijacked account (someone else signed up with your address
//!   first) is yours, theirs no longer, once you prove the mailbox; admin
//!   rights only with both halves proven;
//! - a "trojan identifier" (an address moved into someone else's account by
//!   its owner's click) needs that account's password;
//! - mailed links carry their token in the fragment, never in a query.

mod common;

use common::{Answer, PASSWORD, TestBackend, TestServer};
use serde_json::json;
use shared::Config;

const NEW_PASSWORD: &str = "granite otter symphony 88";
const ATTACKER_PASSWORD: &str = "mallory quartz trellis 61";
const OWNER_PASSWORD: &str = "harbor violet compass 27";

async fn server(b: TestBackend, adjust: impl FnOnce(Config) -> Config) -> TestServer {
    TestServer::start_on_with(b, adjust).await
}

fn access(a: &Answer) -> String {
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["access_token"].as_str().unwrap().to_owned()
}

async fn me_status(s: &TestServer, token: &str) -> u16 {
    s.get("/users/me", Some(token)).await.status.as_u16()
}

/// An account's pending links of every purpose, all mailed and unused.
struct Pending {
    id: String,
    verify: String,
    reset: String,
    change: String,
}

/// Signs `email` up (unverified), and asks for a reset and for a move to
/// `moved`: three links waiting in two mailboxes.
async fn pending_links(s: &TestServer, email: &str, moved: &str) -> Pending {
    let id = s.signup(email).await["id"].as_str().unwrap().to_owned();
    let verify = s.mailed_token(email, "Welcome").await;
    let asked = s
        .post("/auth/password-reset", json!({ "email": email }))
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let reset = s.mailed_token(email, "Reset").await;
    let t = access(&s.login(email, PASSWORD).await);
    let asked = s
        .post_auth(
            "/users/me/email",
            &t,
            json!({ "new_email": moved, "password": PASSWORD }),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let change = s.mailed_token(moved, "Confirm your new address").await;
    Pending {
        id,
        verify,
        reset,
        change,
    }
}

/// Uses each named link with the right password: each must be refused
/// with the one answer for dead links.
async fn assert_dead(s: &TestServer, links: &[(&str, &str)], password: &str, why: &str) {
    for (kind, token) in links {
        let (path, body) = match *kind {
            "verify" => (
                "/auth/verify-email",
                json!({ "token": token, "password": password }),
            ),
            "reset" => (
                "/auth/password-reset/confirm",
                json!({ "token": token, "new_password": "another quiet harbor 19" }),
            ),
            "change" => (
                "/auth/email-change/confirm",
                json!({ "token": token, "password": password }),
            ),
            other => unreachable!("{other}"),
        };
        let a = s.post(path, body).await;
        assert_eq!(
            a.status, 400,
            "{why}: the {kind} link still works: {}",
            a.text
        );
        a.problem(400);
    }
}

/// Item 1: the attacker who once had the password asks to move the address;
/// the owner resets the password; the attacker's link is dead, and so is
/// their session. The notice to the owner says how to undo.
async fn a_reset_ends_an_attackers_pending_email_change(b: TestBackend) {
    let s = server(b, |c| c).await;
    s.signup("owner1@example.com").await;
    let attacker = access(&s.login("owner1@example.com", PASSWORD).await);
    let asked = s
        .post_auth(
            "/users/me/email",
            &attacker,
            json!({ "new_email": "mallory1@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let link = s
        .mailed_token("mallory1@example.com", "Confirm your new address")
        .await;
    let notice = s
        .mailed_text("owner1@example.com", "change of address")
        .await;
    assert!(
        notice.contains("mallory1@example.com")
            && notice.contains("reset your password")
            && notice.contains("/reset-password")
            && notice.contains("cancels the change"),
        "the notice says what happened and how to undo it: {notice}"
    );
    // The owner resets the password.
    s.post(
        "/auth/password-reset",
        json!({ "email": "owner1@example.com" }),
    )
    .await;
    let reset = s.mailed_token("owner1@example.com", "Reset").await;
    let done = s
        .post(
            "/auth/password-reset/confirm",
            json!({ "token": reset, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    // The attacker's link is dead, even with the password they knew and the
    // one the owner chose.
    assert_dead(&s, &[("change", &link)], PASSWORD, "after a reset").await;
    assert_dead(&s, &[("change", &link)], NEW_PASSWORD, "after a reset").await;
    assert_eq!(me_status(&s, &attacker).await, 403, "their session is over");
    let me = s
        .get(
            "/users/me",
            Some(&access(&s.login("owner1@example.com", NEW_PASSWORD).await)),
        )
        .await;
    assert_eq!(me.body["email"], "owner1@example.com", "the address stayed");
}

/// Moves the account of `token` (whose password is [`PASSWORD`]) to `to`,
/// through the link mailed there; returns the revert link mailed to `from`.
async fn move_address(s: &TestServer, token: &str, from: &str, to: &str) -> String {
    let asked = s
        .post_auth(
            "/users/me/email",
            token,
            json!({ "new_email": to, "password": PASSWORD }),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let link = s.mailed_token(to, "Confirm your new address").await;
    let moved = s
        .post(
            "/auth/email-change/confirm",
            json!({ "token": link, "password": PASSWORD }),
        )
        .await;
    assert_eq!(moved.status, 204, "{}", moved.text);
    s.mailed_token(from, "The address of your account was changed")
        .await
}

/// Item 1, after the fact: the attacker confirmed the move and reset the
/// password through the new address. The old address got what happened
/// and a link that takes the account back, which nothing the attacker did
/// disarmed.
async fn a_confirmed_takeover_is_undone_from_the_old_address(b: TestBackend) {
    let s = server(b, |c| c).await;
    s.signup("owner5@example.com").await;
    s.verify("owner5@example.com").await;
    let attacker = access(&s.login("owner5@example.com", PASSWORD).await);
    let revert = move_address(&s, &attacker, "owner5@example.com", "mallory5@example.com").await;
    let notice = s
        .mailed_text(
            "owner5@example.com",
            "The address of your account was changed",
        )
        .await;
    assert!(
        notice.contains("mallory5@example.com") && notice.contains("/revert-email#token="),
        "what happened, and the way back: {notice}"
    );
    // The attacker resets the password through the new address, and signs in.
    s.post(
        "/auth/password-reset",
        json!({ "email": "mallory5@example.com" }),
    )
    .await;
    let reset = s.mailed_token("mallory5@example.com", "Reset").await;
    let done = s
        .post(
            "/auth/password-reset/confirm",
            json!({ "token": reset, "new_password": ATTACKER_PASSWORD }),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    let held = access(&s.login("mallory5@example.com", ATTACKER_PASSWORD).await);

    // The owner takes it back.
    let weak = s
        .post(
            "/auth/email-change/revert",
            json!({ "token": revert, "new_password": "password123" }),
        )
        .await;
    assert_eq!(weak.fields(), vec!["new_password"]);
    let back = s
        .post(
            "/auth/email-change/revert",
            json!({ "token": revert, "new_password": OWNER_PASSWORD }),
        )
        .await;
    assert_eq!(back.status, 204, "{}", back.text);
    assert_eq!(
        me_status(&s, &held).await,
        403,
        "the attacker's session ended"
    );
    s.login("mallory5@example.com", ATTACKER_PASSWORD)
        .await
        .problem(401);
    let owner = access(&s.login("owner5@example.com", OWNER_PASSWORD).await);
    let me = s.get("/users/me", Some(&owner)).await;
    assert_eq!(me.body["email"], "owner5@example.com");
    // Once only.
    s.post(
        "/auth/email-change/revert",
        json!({ "token": revert, "new_password": "another quiet harbor 19" }),
    )
    .await
    .problem(400);
    // The attacker's address is free again.
    assert_eq!(
        s.signup("mallory5@example.com").await["email"],
        "mallory5@example.com"
    );
}

/// The oldest revert link wins: the owner's revert ends the links of every
/// later move (an attacker who moved the address twice holds one), and
/// using a later link first does not disarm the owner's.
async fn the_oldest_revert_link_wins(b: TestBackend) {
    let s = server(b, |c| c).await;
    for (owner, first, second, attacker_first) in [
        (
            "own7@example.com",
            "m7a@example.com",
            "m7b@example.com",
            false,
        ),
        (
            "own8@example.com",
            "m8a@example.com",
            "m8b@example.com",
            true,
        ),
    ] {
        s.signup(owner).await;
        let t = access(&s.login(owner, PASSWORD).await);
        let owners = move_address(&s, &t, owner, first).await;
        let t = access(&s.login(first, PASSWORD).await);
        let attackers = move_address(&s, &t, first, second).await;
        let revert = |token: &str, password: &str| {
            s.post(
                "/auth/email-change/revert",
                json!({ "token": token, "new_password": password }),
            )
        };
        if attacker_first {
            let a = revert(&attackers, ATTACKER_PASSWORD).await;
            assert_eq!(a.status, 204, "{}", a.text);
            assert_eq!(s.login(first, ATTACKER_PASSWORD).await.status, 200);
        }
        let back = revert(&owners, OWNER_PASSWORD).await;
        assert_eq!(back.status, 204, "{owner}: {}", back.text);
        if !attacker_first {
            revert(&attackers, ATTACKER_PASSWORD).await.problem(400);
        }
        let me = s
            .get(
                "/users/me",
                Some(&access(&s.login(owner, OWNER_PASSWORD).await)),
            )
            .await;
        assert_eq!(me.body["email"], owner);
        s.login(first, ATTACKER_PASSWORD).await.problem(401);
    }
}

/// A deleted account leaves no revert link behind (they have a pointer
/// each, found and removed with the account).
async fn deleting_an_account_forgets_its_revert_links(b: TestBackend) {
    let s = server(b, |c| c).await;
    let id = s.signup("leaver@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = access(&s.login("leaver@example.com", PASSWORD).await);
    let revert = move_address(&s, &t, "leaver@example.com", "leaver-new@example.com").await;
    let stored_for_user = || async {
        let mut found = Vec::new();
        let mut cursor = None;
        // Bounded: a cursor that led back would page forever.
        for round in 0.. {
            assert!(round < 1_000, "the pages never ended");
            let page = s.running.state.store.scan(cursor).await.unwrap();
            for item in page.items {
                let text = serde_json::to_string(&item).unwrap();
                let pk = item.get("pk").and_then(|v| v.as_str()).unwrap_or_default();
                if pk.starts_with("OTT#") && text.contains(&id) {
                    found.push(text);
                }
            }
            cursor = page.cursor;
            if cursor.is_none() {
                return found;
            }
        }
        unreachable!("the assertion ends the pages")
    };
    assert!(
        !stored_for_user().await.is_empty(),
        "the revert link is stored"
    );
    let t = access(&s.login("leaver-new@example.com", PASSWORD).await);
    let gone = s
        .call(
            "DELETE",
            "/users/me",
            &t,
            Some(json!({ "password": PASSWORD })),
            &[],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let mut left = Vec::new();
    for _ in 0..100 {
        left = stored_for_user().await;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(left.is_empty(), "left behind: {left:#?}");
    s.post(
        "/auth/email-change/revert",
        json!({ "token": revert, "new_password": OWNER_PASSWORD }),
    )
    .await
    .problem(400);
}

/// Items 1–2: a password change, logout-all, a deactivation (even undone),
/// a verification and a confirmed address change each end every pending
/// link of the account.
async fn every_session_ending_change_ends_every_pending_link(b: TestBackend) {
    let s = server(b, |mut c| {
        c.admin_emails = vec!["boss2@example.com".into()];
        c
    })
    .await;

    // A password change (item 2: the reset link dies with it). The caller's
    // own session stays; the others end.
    let p = pending_links(&s, "pc@example.com", "pc-moved@example.com").await;
    let mine = access(&s.login("pc@example.com", PASSWORD).await);
    let other = access(&s.login("pc@example.com", PASSWORD).await);
    let changed = s
        .post_auth(
            "/auth/password",
            &mine,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    assert_eq!(
        (me_status(&s, &mine).await, me_status(&s, &other).await),
        (200, 403)
    );
    let all = [
        ("verify", p.verify.as_str()),
        ("reset", p.reset.as_str()),
        ("change", p.change.as_str()),
    ];
    assert_dead(&s, &all, NEW_PASSWORD, "after a password change").await;

    // Logout-all.
    let p = pending_links(&s, "lo@example.com", "lo-moved@example.com").await;
    let t = access(&s.login("lo@example.com", PASSWORD).await);
    let out = s.post_auth("/auth/logout-all", &t, json!({})).await;
    assert_eq!(out.status, 204, "{}", out.text);
    let all = [
        ("verify", p.verify.as_str()),
        ("reset", p.reset.as_str()),
        ("change", p.change.as_str()),
    ];
    assert_dead(&s, &all, PASSWORD, "after logout-all").await;

    // A deactivation, undone at once: the links stay dead.
    let admin = s.admin_token("boss2@example.com").await;
    let p = pending_links(&s, "de@example.com", "de-moved@example.com").await;
    let id = &p.id;
    for action in ["deactivate", "activate"] {
        let a = s
            .post_auth(&format!("/admin/users/{id}/{action}"), &admin, json!({}))
            .await;
        assert_eq!(a.status, 200, "{action}: {}", a.text);
    }
    let all = [
        ("verify", p.verify.as_str()),
        ("reset", p.reset.as_str()),
        ("change", p.change.as_str()),
    ];
    assert_dead(&s, &all, PASSWORD, "after a deactivation").await;

    // A verification ends the pending reset and change links.
    let p = pending_links(&s, "ve@example.com", "ve-moved@example.com").await;
    let verified = s
        .post(
            "/auth/verify-email",
            json!({ "token": p.verify, "password": PASSWORD }),
        )
        .await;
    assert_eq!(verified.status, 204, "{}", verified.text);
    let rest = [("reset", p.reset.as_str()), ("change", p.change.as_str())];
    assert_dead(&s, &rest, PASSWORD, "after a verification").await;

    // A confirmed address change ends the pending reset link and every
    // session.
    let p = pending_links(&s, "mv@example.com", "mv-moved@example.com").await;
    let t = access(&s.login("mv@example.com", PASSWORD).await);
    let moved = s
        .post(
            "/auth/email-change/confirm",
            json!({ "token": p.change, "password": PASSWORD }),
        )
        .await;
    assert_eq!(moved.status, 204, "{}", moved.text);
    assert_eq!(me_status(&s, &t).await, 403, "every session ends");
    assert_dead(
        &s,
        &[("reset", p.reset.as_str()), ("verify", p.verify.as_str())],
        PASSWORD,
        "after an address change",
    )
    .await;
    assert_eq!(s.login("mv-moved@example.com", PASSWORD).await.status, 200);
}

/// Item 3: the attacker signs up first with the admin's address and keeps a
/// session. The owner proves the mailbox and sets a password: the attacker
/// is out, their password dead, and only the owner is admin.
async fn a_pre_hijacked_admin_address_goes_to_its_owner(b: TestBackend) {
    let s = server(b, |mut c| {
        c.admin_emails = vec!["chief3@example.com".into()];
        c
    })
    .await;
    let signed = s
        .post(
            "/auth/signup",
            json!({ "email": "chief3@example.com", "password": ATTACKER_PASSWORD }),
        )
        .await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    let attacker = s.login("chief3@example.com", ATTACKER_PASSWORD).await;
    let attacker_access = access(&attacker);
    let link = s.mailed_token("chief3@example.com", "Welcome").await;

    // The link alone proves the mailbox, not the password: refused.
    let bare = s.post("/auth/verify-email", json!({ "token": link })).await;
    assert_eq!(bare.fields(), vec!["password"]);
    let guessed = s
        .post(
            "/auth/verify-email",
            json!({ "token": link, "password": OWNER_PASSWORD }),
        )
        .await;
    assert_eq!(guessed.fields(), vec!["password"]);
    let both = s
        .post(
            "/auth/verify-email",
            json!({ "token": link, "password": "x", "new_password": OWNER_PASSWORD }),
        )
        .await;
    assert_eq!(both.fields(), vec!["new_password"]);
    assert_eq!(
        s.get("/admin/users", Some(&attacker_access)).await.status,
        403,
        "nothing changed yet"
    );

    // The owner takes the account with a new password.
    let taken = s
        .post(
            "/auth/verify-email",
            json!({ "token": link, "new_password": OWNER_PASSWORD }),
        )
        .await;
    assert_eq!(taken.status, 204, "{}", taken.text);
    assert_eq!(
        me_status(&s, &attacker_access).await,
        403,
        "the attacker's session ended"
    );
    let refreshed = s
        .post(
            "/auth/refresh",
            json!({ "refresh_token": attacker.body["refresh_token"] }),
        )
        .await;
    refreshed.problem(401);
    s.login("chief3@example.com", ATTACKER_PASSWORD)
        .await
        .problem(401);
    let owner = access(&s.login("chief3@example.com", OWNER_PASSWORD).await);
    assert_eq!(s.get("/admin/users", Some(&owner)).await.status, 200);
}

/// Item 3's variants: the sign-up of an existing unverified address (the
/// owner is told it exists and recovers it with a reset, which proves both
/// halves), verifying a deactivated account, and a trojan identifier.
async fn pre_hijack_variants_are_closed(b: TestBackend) {
    let s = server(b, |mut c| {
        c.admin_emails = vec!["chief4@example.com".into(), "root4@example.com".into()];
        c
    })
    .await;
    // The owner's sign-up finds the attacker's account; a reset takes it.
    s.post(
        "/auth/signup",
        json!({ "email": "chief4@example.com", "password": ATTACKER_PASSWORD }),
    )
    .await;
    let attacker = access(&s.login("chief4@example.com", ATTACKER_PASSWORD).await);
    let again = s
        .post(
            "/auth/signup",
            json!({ "email": "chief4@example.com", "password": OWNER_PASSWORD }),
        )
        .await;
    again.problem(409);
    s.post(
        "/auth/password-reset",
        json!({ "email": "chief4@example.com" }),
    )
    .await;
    let reset = s.mailed_token("chief4@example.com", "Reset").await;
    let done = s
        .post(
            "/auth/password-reset/confirm",
            json!({ "token": reset, "new_password": OWNER_PASSWORD }),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.text);
    assert_eq!(me_status(&s, &attacker).await, 403);
    let owner = access(&s.login("chief4@example.com", OWNER_PASSWORD).await);
    let me = s.get("/users/me", Some(&owner)).await;
    assert_eq!(
        (
            me.body["email_verified"].as_bool(),
            me.body["role"].as_str()
        ),
        (Some(true), Some("admin")),
        "a reset proves both halves"
    );

    // A deactivated account cannot be verified.
    let sleeper = s.signup("sleeper4@example.com").await;
    let link = s.mailed_token("sleeper4@example.com", "Welcome").await;
    let id = sleeper["id"].as_str().unwrap();
    let off = s
        .post_auth(&format!("/admin/users/{id}/deactivate"), &owner, json!({}))
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    s.post(
        "/auth/verify-email",
        json!({ "token": link, "password": PASSWORD }),
    )
    .await
    .problem(400);

    // A trojan identifier: the attacker's own account asks to move to the
    // admin's address; the admin-to-be clicks the link without the
    // attacker's password: nothing moves.
    s.signup("mallory4@example.com").await;
    let t = access(&s.login("mallory4@example.com", PASSWORD).await);
    let asked = s
        .post_auth(
            "/users/me/email",
            &t,
            json!({ "new_email": "root4@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let link = s
        .mailed_token("root4@example.com", "Confirm your new address")
        .await;
    let clicked = s
        .post("/auth/email-change/confirm", json!({ "token": link }))
        .await;
    assert_eq!(clicked.fields(), vec!["password"]);
    let guessed = s
        .post(
            "/auth/email-change/confirm",
            json!({ "token": link, "password": OWNER_PASSWORD }),
        )
        .await;
    assert_eq!(guessed.fields(), vec!["password"]);
    let me = s.get("/users/me", Some(&t)).await;
    assert_eq!(
        (me.body["email"].as_str(), me.body["role"].as_str()),
        (Some("mallory4@example.com"), Some("user"))
    );
}

/// Item 6: every mailed link carries its token in the fragment.
async fn mailed_tokens_ride_in_the_fragment(b: TestBackend) {
    let s = server(b, |c| c).await;
    s.signup("frag@example.com").await;
    s.mailed_token("frag@example.com", "Welcome").await;
    s.post(
        "/auth/password-reset",
        json!({ "email": "frag@example.com" }),
    )
    .await;
    s.mailed_token("frag@example.com", "Reset").await;
    let t = access(&s.login("frag@example.com", PASSWORD).await);
    s.post_auth(
        "/users/me/email",
        &t,
        json!({ "new_email": "frag-new@example.com", "password": PASSWORD }),
    )
    .await;
    s.mailed_token("frag-new@example.com", "Confirm your new address")
        .await;
    let mails: Vec<_> = ["frag@example.com", "frag-new@example.com"]
        .iter()
        .flat_map(|to| s.mails.to(to))
        .collect();
    let with_links: Vec<_> = mails.iter().filter(|m| m.text.contains("token=")).collect();
    assert_eq!(with_links.len(), 3, "{mails:?}");
    for m in with_links {
        assert!(
            m.text.contains("#token=")
                && !m.text.contains("?token=")
                && !m.text.contains("&token="),
            "a token in a query string: {}",
            m.text
        );
    }
}

on_both_backends!(
    a_reset_ends_an_attackers_pending_email_change,
    a_confirmed_takeover_is_undone_from_the_old_address,
    deleting_an_account_forgets_its_revert_links,
    the_oldest_revert_link_wins,
    every_session_ending_change_ends_every_pending_link,
    a_pre_hijacked_admin_address_goes_to_its_owner,
    pre_hijack_variants_are_closed,
    mailed_tokens_ride_in_the_fragment,
);
