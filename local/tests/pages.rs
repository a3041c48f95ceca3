//! The hosted pages' server side, over HTTP against the local router (both
//! backends): every page and asset with its security headers, and cookie
//! mode (`X-Refresh-Cookie: 1`): the refresh and device tokens as HttpOnly
//! cookies of their own routes, a refresh from the cookie only from the same
//! origin, and sign-out ending the cookie. The pages themselves, in a browser,
//! are `tests/e2e/pages.py`.

mod common;

use common::{PASSWORD, TestServer};
use serde_json::json;

/// The `Set-Cookie` of `name` in an answer, if any.
fn set_cookie(a: &common::Answer, name: &str) -> Option<String> {
    a.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// A cookie's value from its `Set-Cookie`.
fn value_of(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

async fn cookie_login(s: &TestServer, email: &str) -> common::Answer {
    s.send(
        s.client
            .post(s.url("/auth/login"))
            .header("x-refresh-cookie", "1")
            .json(&json!({ "email": email, "password": PASSWORD })),
    )
    .await
}

async fn cookie_refresh(s: &TestServer, cookie: &str, headers: &[(&str, &str)]) -> common::Answer {
    let mut req = s
        .client
        .post(s.url("/auth/refresh"))
        .header("x-refresh-cookie", "1")
        .header("cookie", format!("up_refresh={cookie}"))
        .json(&json!({}));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    s.send(req).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_and_asset_is_served_with_a_strict_policy() {
    let s = TestServer::start().await;
    let assets = web::ASSETS.iter().map(|(path, _, _)| *path);
    for path in web::PAGES.iter().copied().chain(assets) {
        let a = s.get(path, None).await;
        assert_eq!(a.status, 200, "{path}");
        let policy = a.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}");
        assert_eq!(a.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(a.headers["referrer-policy"], "no-referrer", "{path}");
    }
    let page = s.get("/reset-password", None).await;
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains(r#"<body data-page="reset-password">"#));
    let script = s.get("/assets/app.js", None).await;
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // A page that does not exist is the gateway's 404, not a page.
    assert_eq!(s.get("/no-such-page", None).await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_mode_keeps_the_long_lived_tokens_out_of_the_script() {
    let s = TestServer::start().await;
    s.signup("cookie@example.com").await;
    let login = cookie_login(&s, "cookie@example.com").await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert!(login.body["access_token"].is_string());
    assert!(login.body.get("refresh_token").is_none(), "{}", login.text);
    assert!(login.body.get("device_token").is_none(), "{}", login.text);
    let refresh = set_cookie(&login, "up_refresh").expect("a refresh cookie");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/auth/refresh",
        "Max-Age=",
    ] {
        assert!(refresh.contains(attribute), "{refresh}");
    }
    let device = set_cookie(&login, "up_device").expect("a device cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/auth;"] {
        assert!(device.contains(attribute), "{device}");
    }

    // Without the header, the body carries the tokens as before.
    let plain = s.login("cookie@example.com", PASSWORD).await;
    assert!(plain.body["refresh_token"].is_string());
    assert!(set_cookie(&plain, "up_refresh").is_none());

    // A refresh from the cookie rotates it, from the same origin.
    let host = s
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let origin = format!("http://{host}");
    let first = value_of(&refresh);
    let rotated = cookie_refresh(
        &s,
        &first,
        &[("origin", &origin), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert!(rotated.body.get("refresh_token").is_none());
    let next = value_of(&set_cookie(&rotated, "up_refresh").expect("a rotated cookie"));
    assert_ne!(next, first);

    // Another site or origin cannot spend it: 403, and the cookie stays good.
    let other_scheme = format!("https://{host}");
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "https://evil.example")],
        // The same host under another scheme is another origin.
        vec![("origin", other_scheme.as_str())],
    ] {
        let refused = cookie_refresh(&s, &next, &headers).await;
        refused.problem(403);
    }
    // A second `up_refresh` (planted by a sibling subdomain with a Domain
    // attribute) makes neither trusted: the refresh's one 401.
    let planted = s
        .send(
            s.client
                .post(s.url("/auth/refresh"))
                .header("x-refresh-cookie", "1")
                .header("cookie", format!("up_refresh=planted; up_refresh={next}"))
                .json(&json!({})),
        )
        .await;
    planted.problem(401);
    // No cookie at all: the refresh's one 401.
    let none = s
        .send(
            s.client
                .post(s.url("/auth/refresh"))
                .header("x-refresh-cookie", "1")
                .json(&json!({})),
        )
        .await;
    none.problem(401);
    // A cookie without the header is not read: the body's token is required.
    let unasked = s
        .send(
            s.client
                .post(s.url("/auth/refresh"))
                .header("cookie", format!("up_refresh={next}"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(unasked.problem(422)["errors"][0]["field"], "refresh_token");

    // Sign-out ends the session and the cookie.
    let again = cookie_refresh(&s, &next, &[]).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let access = again.body["access_token"].as_str().unwrap().to_owned();
    let last = value_of(&set_cookie(&again, "up_refresh").unwrap());
    let out = s
        .call(
            "POST",
            "/auth/logout",
            &access,
            None,
            &[("x-refresh-cookie", "1")],
        )
        .await;
    assert_eq!(out.status, 204);
    let cleared = set_cookie(&out, "up_refresh").expect("the cookie ended");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/auth/refresh"), "{cleared}");
    cookie_refresh(&s, &last, &[]).await.problem(401);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_cookie_keeps_a_browser_trusted_when_strangers_lock_the_account() {
    let s = TestServer::start_with(|mut c| {
        c.login_max_failures_per_client = 3.into();
        c.login_max_failures_per_account = 6.into();
        c
    })
    .await;
    s.signup("device@example.com").await;
    let login = cookie_login(&s, "device@example.com").await;
    let device = value_of(&set_cookie(&login, "up_device").unwrap());
    // Strangers, from many addresses, spend the allowance of unknown devices.
    for n in 10..30 {
        s.send(
            common::client_from(n)
                .post(s.url("/auth/login"))
                .json(&json!({ "email": "device@example.com", "password": "a wrong guess here" })),
        )
        .await;
    }
    let cookie_login_from = |cookie: Option<String>| {
        let mut req = common::client_from(40)
            .post(s.url("/auth/login"))
            .header("x-refresh-cookie", "1")
            .json(&json!({ "email": "device@example.com", "password": PASSWORD }));
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        s.send(req)
    };
    // Without its cookie the browser is a stranger: locked out.
    cookie_login_from(None).await.problem(429);
    // With it, the browser is the trusted device and gets in.
    let trusted = cookie_login_from(Some(format!("up_device={device}"))).await;
    assert_eq!(trusted.status, 200, "{}", trusted.text);
    assert_eq!(
        value_of(&set_cookie(&trusted, "up_device").unwrap()),
        device,
        "the same device"
    );
    // The cookie is read in cookie mode only.
    let api_client = s
        .send(
            common::client_from(40)
                .post(s.url("/auth/login"))
                .header("cookie", format!("up_device={device}"))
                .json(&json!({ "email": "device@example.com", "password": PASSWORD })),
        )
        .await;
    api_client.problem(429);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_cookie_keeps_the_owners_reset_allowance_from_the_page() {
    let s = TestServer::start_with(|mut c| {
        c.resets_per_email_per_hour = 2.into();
        c.resets_per_ip_per_hour = 100.into();
        c
    })
    .await;
    s.signup("recover@example.com").await;
    let login = cookie_login(&s, "recover@example.com").await;
    let device = value_of(&set_cookie(&login, "up_device").unwrap());
    let resets = |s: &TestServer| {
        s.mails
            .to("recover@example.com")
            .iter()
            .filter(|m| m.subject.contains("Reset"))
            .count()
    };
    // Strangers spend the address's allowance.
    for n in 70..76 {
        let a = s
            .send(
                common::client_from(n)
                    .post(s.url("/auth/password-reset"))
                    .json(&json!({ "email": "recover@example.com" })),
            )
            .await;
        assert_eq!(a.status, 202);
    }
    s.mailed_token("recover@example.com", "Reset").await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(resets(&s), 2, "no more than the allowance");
    // The page asks in cookie mode, with the device cookie: mailed.
    let asked = s
        .send(
            s.client
                .post(s.url("/auth/password-reset"))
                .header("x-refresh-cookie", "1")
                .header("cookie", format!("up_device={device}"))
                .json(&json!({ "email": "recover@example.com" })),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    for _ in 0..100 {
        if resets(&s) == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(resets(&s), 3, "the owner's browser has its own allowance");
}
