//! Browsers on the app's origin can use the API and the presigned uploads;
//! other origins cannot; with no origin configured, nobody can (CORS as
//! API Gateway and S3 do it for the template's `AppOrigin`).

mod common;

use common::{PASSWORD, TestServer};
use reqwest::Method;
use serde_json::json;

const APP: &str = "http://localhost:5173";
const OTHER: &str = "https://evil.example";

async fn preflight(
    s: &TestServer,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> reqwest::Response {
    s.client
        .request(Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The app's origin gets API Gateway's preflight answer (before the
/// authorizer: a preflight carries no token) and the headers on every
/// answer; another origin gets neither.
#[tokio::test(flavor = "multi_thread")]
async fn the_api_allows_the_app_origin_only() {
    let s = TestServer::start_with(|mut c| {
        c.app_origin = Some(APP.into());
        c
    })
    .await;
    // A protected route: the preflight is the gateway's, never a 401.
    let p = preflight(
        &s,
        "/users/me",
        APP,
        "PATCH",
        "authorization,content-type,if-match",
    )
    .await;
    assert_eq!(p.status(), 204);
    assert_eq!(
        header(&p, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(
        header(&p, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let methods = header(&p, "access-control-allow-methods").unwrap();
    assert!(methods.split(',').any(|m| m == "PATCH"), "{methods}");
    let allowed = header(&p, "access-control-allow-headers").unwrap();
    for h in ["authorization", "content-type", "if-match"] {
        assert!(allowed.split(',').any(|x| x == h), "{h} not in {allowed}");
    }
    assert_eq!(header(&p, "access-control-max-age").as_deref(), Some("600"));
    // Cookie mode's header is not allowed, even from the app's origin: only
    // the hosted pages, on the API's own origin, refresh from the cookie.
    let p = preflight(
        &s,
        "/auth/refresh",
        APP,
        "POST",
        "content-type,x-refresh-cookie",
    )
    .await;
    let allowed = header(&p, "access-control-allow-headers").unwrap_or_default();
    assert!(allowed.split(',').any(|h| h == "content-type"), "{allowed}");
    assert!(
        !allowed.split(',').any(|h| h == edge::sign_in::COOKIE_MODE),
        "{allowed}"
    );
    // Under the base path too.
    let p = preflight(&s, "/api/v1/auth/login", APP, "POST", "content-type").await;
    assert_eq!(
        header(&p, "access-control-allow-origin").as_deref(),
        Some(APP)
    );

    let p = preflight(&s, "/users/me", OTHER, "PATCH", "authorization").await;
    assert_eq!(p.status(), 204);
    assert_eq!(header(&p, "access-control-allow-origin"), None);

    // Real requests: the app's origin reads the answer and its ETag.
    s.signup("cors@example.com").await;
    let login = s
        .client
        .post(s.url("/auth/login"))
        .header("origin", APP)
        .json(&json!({"email": "cors@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(
        header(&login, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
    let exposed = header(&login, "access-control-expose-headers").unwrap();
    assert!(exposed.split(',').any(|h| h == "etag"), "{exposed}");
    let from_other = s
        .client
        .post(s.url("/auth/login"))
        .header("origin", OTHER)
        .json(&json!({"email": "cors@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&from_other, "access-control-allow-origin"), None);
    // Errors carry the headers too, so the app can read the problem.
    let missing = s
        .client
        .get(s.url("/users/me"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        header(&missing, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
}

/// Presigned uploads go to the bucket from the browser: its rule allows
/// the app's origin to PUT with a Content-Type, nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn the_bucket_allows_the_app_to_put_uploads_only() {
    let s = TestServer::start_on_with(common::TestBackend::Embedded, |mut c| {
        c.app_origin = Some(APP.into());
        c
    })
    .await;
    let token = s.user_token("bucket-cors@example.com").await;
    let a = s
        .post_auth(
            "/users/me/avatar/upload-url",
            &token,
            json!({"content_type": "image/png", "content_length": 100}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let url = a.body["url"].as_str().unwrap();
    let path = &url[url.find("/_blobs/").unwrap()..];
    let p = preflight(&s, path, APP, "PUT", "content-type").await;
    assert_eq!(p.status(), 200);
    assert_eq!(
        header(&p, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
    assert_eq!(
        header(&p, "access-control-allow-methods").as_deref(),
        Some("PUT")
    );
    for (origin, method, headers) in [
        (OTHER, "PUT", "content-type"),
        (APP, "DELETE", ""),
        (APP, "PUT", "content-type,x-amz-acl"),
    ] {
        let p = preflight(&s, path, origin, method, headers).await;
        assert_eq!(p.status(), 403, "{origin} {method} {headers}");
        assert_eq!(header(&p, "access-control-allow-origin"), None);
    }
}

/// With no origin configured (the local default) there is no cross-origin
/// access: no CORS headers, and a preflight is just an unrouted OPTIONS.
#[tokio::test(flavor = "multi_thread")]
async fn without_an_origin_nothing_is_cross_origin() {
    let s = TestServer::start_on(common::TestBackend::Embedded).await;
    assert_eq!(s.config.app_origin, None);
    let p = preflight(&s, "/auth/login", APP, "POST", "content-type").await;
    assert_eq!(p.status(), 404);
    assert_eq!(header(&p, "access-control-allow-origin"), None);
    let health = s
        .client
        .get(s.url("/health"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(header(&health, "access-control-allow-origin"), None);
}
