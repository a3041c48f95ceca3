//! The clients of the five systems we replace work unchanged: each system's
//! documented calls, in the order its clients make them, against the local
//! gateway (README: "Coming from the old services"). Both backends.

mod common;

use common::{PASSWORD, TestBackend, TestServer};
use serde_json::{Value, json};

fn token(a: &common::Answer) -> String {
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["access_token"].as_str().unwrap().to_owned()
}

/// The auth + PDF service: sign up, log in, download the profile PDF itself.
async fn the_auth_and_pdf_service(backend: TestBackend) {
    let s = TestServer::start_on(backend).await;
    let signed = s
        .post(
            "/auth/signup",
            json!({"email": "pdf@example.com", "password": PASSWORD, "name": "Ada"}),
        )
        .await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    let t = token(
        &s.post(
            "/auth/login",
            json!({"email": "pdf@example.com", "password": PASSWORD}),
        )
        .await,
    );
    let download = || async {
        let r = s
            .client
            .get(s.url("/pdf/generate"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        let headers = r.headers().clone();
        (r.status().as_u16(), headers, r.bytes().await.unwrap())
    };
    let (status, headers, first) = download().await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("profile.pdf")
    );
    assert!(first.starts_with(b"%PDF-") && first.len() > 1000);
    // Unchanged profile: the stored PDF, byte for byte (not drawn again).
    let (_, _, again) = download().await;
    assert_eq!(first, again);
    // A changed profile is drawn anew, and the link API agrees it is current.
    let patched = s
        .call(
            "PATCH",
            "/users/me",
            &t,
            Some(json!({"name": "Grace"})),
            &[],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let (_, _, redrawn) = download().await;
    assert_ne!(first, redrawn);
    let link = s.get("/users/me/pdf", Some(&t)).await;
    assert_eq!(link.body["current"], true, "{}", link.text);
    // Without a token: API Gateway's own 401.
    assert_eq!(s.get("/pdf/generate", None).await.status, 401);
}

/// The tasks and users services: register, log in, validate the token,
/// tasks, the profile calls (PUT replaces, createprofile sets,
/// deleteprofile clears and keeps the account), health.
async fn the_tasks_and_users_services(backend: TestBackend) {
    let s = TestServer::start_on(backend).await;
    let registered = s
        .post(
            "/auth/register",
            json!({"email": "tu@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let t = token(
        &s.post(
            "/auth/login",
            json!({"email": "tu@example.com", "password": PASSWORD}),
        )
        .await,
    );
    let valid = s.post("/auth/validate-token", json!({"token": t})).await;
    assert_eq!(
        (valid.status.as_u16(), valid.body["valid"].clone()),
        (200, json!(true))
    );
    let task = s
        .call("POST", "/tasks", &t, Some(json!({"title": "Ship it"})), &[])
        .await;
    assert_eq!(task.status, 201, "{}", task.text);
    let list = s.get("/tasks", Some(&t)).await;
    assert_eq!(list.body["items"][0]["title"], "Ship it");

    let created = s
        .call(
            "POST",
            "/users/createprofile",
            &t,
            Some(json!({"name": "Ada", "surname": "Lovelace", "bio": "Engines."})),
            &[],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(
        (&created.body["name"], &created.body["bio"]),
        (&json!("Ada"), &json!("Engines."))
    );
    // createprofile sets what it is given and keeps the rest.
    let more = s
        .call(
            "POST",
            "/users/createprofile",
            &t,
            Some(json!({"username": "ada_l"})),
            &[],
        )
        .await;
    assert_eq!(
        (&more.body["username"], &more.body["surname"]),
        (&json!("ada_l"), &json!("Lovelace"))
    );
    // PUT replaces the editable profile: what it leaves out is cleared.
    let put = s
        .call(
            "PUT",
            "/users/me",
            &t,
            Some(json!({"name": "Augusta"})),
            &[],
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["name"], "Augusta");
    for cleared in ["surname", "bio", "username", "date_of_birth"] {
        assert_eq!(put.body[cleared], Value::Null, "{cleared}: {}", put.text);
    }
    assert_eq!(put.body["email"], "tu@example.com", "not editable here");
    // Bad input is a 422 naming the field, as on PATCH; nothing changes.
    let bad = s
        .call("PUT", "/users/me", &t, Some(json!({"name": ""})), &[])
        .await;
    assert_eq!(bad.fields(), ["name"]);
    assert_eq!(s.get("/users/me", Some(&t)).await.body["name"], "Augusta");
    // A stale If-Match is refused on PUT as on PATCH.
    let stale = s
        .call(
            "PUT",
            "/users/me",
            &t,
            Some(json!({})),
            &[("if-match", "\"v1\"")],
        )
        .await;
    stale.problem(412);

    let gone = s
        .call("DELETE", "/users/deleteprofile", &t, None, &[])
        .await;
    assert_eq!(gone.status, 200, "{}", gone.text);
    for field in ["name", "surname", "bio", "username", "date_of_birth"] {
        assert_eq!(gone.body[field], Value::Null, "{field}");
    }
    // The account stays: the token works and the password logs in.
    let me = s.get("/users/me", Some(&t)).await;
    assert_eq!(
        (me.status.as_u16(), me.body["email"].clone()),
        (200, json!("tu@example.com"))
    );
    assert_eq!(s.login("tu@example.com", PASSWORD).await.status, 200);
    assert_eq!(
        s.get("/tasks", Some(&t)).await.body["items"][0]["title"],
        "Ship it"
    );
    assert_eq!(s.get("/health", None).await.status, 200);
}

/// The assessment API, under `/api/v1` as its clients call it: register
/// with a username, log in for both tokens, the profile, the posts feed,
/// the admin calls, and the docs pages.
async fn the_assessment_api_under_its_base_path(backend: TestBackend) {
    let s = TestServer::start_on_with(backend, |mut c| {
        c.admin_emails = vec!["boss@example.com".into()];
        c
    })
    .await;
    let v1 = |path: &str| format!("/api/v1{path}");
    let registered = s
        .post(
            &v1("/auth/register"),
            json!({"email": "as@example.com", "password": PASSWORD, "username": "assessor"}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    assert_eq!(registered.body["username"], "assessor");
    let login = s
        .post(
            &v1("/auth/login"),
            json!({"email": "as@example.com", "password": PASSWORD}),
        )
        .await;
    let t = token(&login);
    assert!(
        login.body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.len() == 43)
    );
    let me = s.get(&v1("/profile/me"), Some(&t)).await;
    assert_eq!(
        (me.status.as_u16(), me.body["username"].clone()),
        (200, json!("assessor"))
    );
    let posts = s.get(&v1("/posts?page=2&per_page=5"), None).await;
    assert_eq!(posts.status, 200, "{}", posts.text);
    assert_eq!(
        (posts.body["page"].clone(), posts.body["per_page"].clone()),
        (json!(2), json!(5))
    );
    assert_eq!(posts.body["items"].as_array().unwrap().len(), 5);
    // The same answers as at the root: one API, two mappings.
    assert_eq!(
        posts.body,
        s.get("/posts?page=2&per_page=5", None).await.body
    );
    // Created resources are located under the mapping they were made through.
    let task = s
        .call(
            "POST",
            &v1("/tasks"),
            &t,
            Some(json!({"title": "mapped"})),
            &[],
        )
        .await;
    assert_eq!(task.status, 201, "{}", task.text);
    let location = task.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/api/v1/tasks/{}", task.body["id"].as_str().unwrap())
    );
    assert_eq!(s.get(&location, Some(&t)).await.body["title"], "mapped");
    let at_root = s
        .call("POST", "/tasks", &t, Some(json!({"title": "root"})), &[])
        .await;
    assert!(
        at_root.headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/tasks/")
    );

    let admin = s.admin_token("boss@example.com").await;
    assert_eq!(
        s.get(&v1("/admin/users"), Some(&t)).await.status,
        403,
        "not an admin"
    );
    let users = s.get(&v1("/admin/users?q=as@"), Some(&admin)).await;
    assert_eq!(users.status, 200, "{}", users.text);
    let id = users.body["items"][0]["id"].as_str().unwrap().to_owned();
    let off = s
        .call(
            "POST",
            &v1(&format!("/admin/users/{id}/deactivate")),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(
        s.get(&v1("/profile/me"), Some(&t)).await.status,
        403,
        "deactivated"
    );

    for page in ["/docs", "/redoc"] {
        let docs = s.get(&v1(page), None).await;
        assert_eq!(docs.status, 200, "{page}");
        assert!(docs.text.contains("<redoc"));
    }
    // The page's relative links resolve under the mapping.
    let spec = s.get(&v1("/openapi.json"), None).await;
    assert_eq!(spec.body["openapi"], "3.1.0");
    let js = s
        .client
        .get(s.url(&v1("/docs/redoc.standalone.js")))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    // Outside the API's routes the mapping answers API Gateway's 404.
    assert_eq!(s.get(&v1("/nothing"), None).await.status, 404);
    assert_eq!(s.get("/api/v2/posts", None).await.status, 404);
}

/// The books service: trailing slashes, the OAuth2 login form, the catalog
/// and an order.
async fn the_books_service(backend: TestBackend) {
    let s = TestServer::start_on_with(backend, |mut c| {
        c.admin_emails = vec!["shop@example.com".into()];
        c
    })
    .await;
    let registered = s
        .post(
            "/auth/register/",
            json!({"email": "reader@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let form = s
        .send(s.client.post(s.url("/auth/login/")).form(&[
            ("username", "reader@example.com"),
            ("password", PASSWORD),
            ("grant_type", "password"),
        ]))
        .await;
    let t = token(&form);
    assert_eq!(form.body["token_type"], "Bearer");
    let admin = s.admin_token("shop@example.com").await;
    let book = s
        .call(
            "POST",
            "/books/",
            &admin,
            Some(
                json!({"title": "Dune", "author": "Frank Herbert", "price_cents": 999, "stock": 2}),
            ),
            &[],
        )
        .await;
    assert_eq!(book.status, 201, "{}", book.text);
    let listed = s.get("/books/", None).await;
    assert_eq!(listed.body["items"][0]["title"], "Dune");
    let id = book.body["id"].as_str().unwrap();
    let order = s
        .call(
            "POST",
            "/orders/",
            &t,
            Some(json!({"items": [{"book_id": id, "quantity": 2}]})),
            &[],
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    let sold_out = s
        .call(
            "POST",
            "/orders/",
            &t,
            Some(json!({"items": [{"book_id": id, "quantity": 1}]})),
            &[],
        )
        .await;
    sold_out.problem(409);
}

/// The media service: upload a form, read the link, delete.
async fn the_media_service(backend: TestBackend) {
    let s = TestServer::start_on(backend).await;
    let t = s.user_token("media@example.com").await;
    assert_eq!(s.get("/media/avatar", Some(&t)).await.status, 404);
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        64,
        48,
        image::Rgb([9, 90, 200]),
    ))
    .write_to(&mut png, image::ImageFormat::Png)
    .unwrap();
    let part = reqwest::multipart::Part::bytes(png.into_inner())
        .file_name("me.png")
        .mime_str("image/png")
        .unwrap();
    let uploaded = s
        .send(
            s.client
                .post(s.url("/media/avatar"))
                .bearer_auth(&t)
                .multipart(reqwest::multipart::Form::new().part("file", part)),
        )
        .await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.text);
    let shown = s.get("/media/avatar", Some(&t)).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let url = shown.body["url"].as_str().unwrap();
    let same = s.get("/users/me/avatar", Some(&t)).await;
    assert_eq!(
        (&same.body["status"], &same.body["content_type"]),
        (&shown.body["status"], &shown.body["content_type"]),
        "one avatar, two ways to read it"
    );
    let image = s.client.get(url).send().await.unwrap();
    assert_eq!(image.status(), 200);
    let svg = s
        .send(
            s.client
                .post(s.url("/media/avatar"))
                .bearer_auth(&t)
                .header("content-type", "image/svg+xml")
                .body("<svg xmlns='http://www.w3.org/2000/svg'/>"),
        )
        .await;
    svg.problem(415);
    let deleted = s.call("DELETE", "/media/avatar", &t, None, &[]).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(s.get("/users/me/avatar", Some(&t)).await.status, 404);
    // Over the binaries (TEST_FUNCTIONS=binaries), the answers came from
    // their processes: signup, login, the authorizer and media-upload at least.
    if common::binaries().is_some() {
        assert!(s.warm_processes() >= 4, "{}", s.warm_processes());
    } else {
        assert_eq!(s.warm_processes(), 0);
    }
}

on_both_backends!(
    the_auth_and_pdf_service,
    the_tasks_and_users_services,
    the_assessment_api_under_its_base_path,
    the_books_service,
    the_media_service,
);
