//! Profile PDFs, black-box through the local server (on the backend
//! `TEST_BACKEND` selects): drawn on demand, stored, handed out by link,
//! drawn again only when the profile changed, gone with the account.

mod common;

use edge::wiring::EmbeddedParts;
use std::time::Duration;

use common::{PASSWORD, TestServer};
use serde_json::json;

/// Downloads a link and returns the text of the PDF behind it.
async fn pdf_text(s: &TestServer, url: &str) -> String {
    let response = s.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.contains("profile.pdf"), "{disposition}");
    // Redrawn under its key: stored with "check before reuse" (issue 26).
    assert_eq!(response.headers()["cache-control"], "private, no-cache");
    assert_eq!(response.headers()["content-type"], "application/pdf");
    if s.running.state.extras.get::<EmbeddedParts>().is_some() {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let doc = lopdf::Document::load_mem(&bytes).unwrap();
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_profile_pdf_is_drawn_once_per_profile_version() {
    let s = TestServer::start().await;
    let t = s.user_token("pdf@example.com").await;
    s.get("/users/me/pdf", Some(&t)).await.problem(404);
    s.call(
        "PATCH",
        "/users/me",
        &t,
        Some(json!({"name": "Zoë", "surname": "Ωμέγα", "bio": "Writes proofs."})),
        &[],
    )
    .await;

    let first = s.call("POST", "/users/me/pdf", &t, None, &[]).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["generated"], true);
    assert_eq!(first.body["current"], true);
    assert_eq!(first.body["profile_version"], 2);
    assert!(first.body["size_bytes"].as_u64().unwrap() > 1000);
    let text = pdf_text(&s, first.body["url"].as_str().unwrap()).await;
    for expected in [
        "Zoë Ωμέγα",
        "pdf@example.com",
        "Writes proofs.",
        "version 2",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }

    // Unchanged profile: the same PDF, a fresh link.
    let again = s.call("POST", "/users/me/pdf", &t, None, &[]).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["generated"], false);
    assert_eq!(again.body["generated_at"], first.body["generated_at"]);

    s.call("PATCH", "/users/me", &t, Some(json!({"name": "Ada"})), &[])
        .await;
    let stale = s.get("/users/me/pdf", Some(&t)).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body["current"], false);
    let redrawn = s.call("POST", "/users/me/pdf", &t, None, &[]).await;
    assert_eq!(redrawn.status, 201);
    assert_eq!(redrawn.body["profile_version"], 3);
    let text = pdf_text(&s, redrawn.body["url"].as_str().unwrap()).await;
    assert!(text.contains("Ada Ωμέγα"), "{text:?}");
    assert!(!text.contains("Zoë"));

    assert_eq!(
        s.client
            .post(s.url("/users/me/pdf"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn links_are_private_and_expire() {
    let s = TestServer::start().await;
    let t = s.user_token("link@example.com").await;
    let link = s.call("POST", "/users/me/pdf", &t, None, &[]).await;
    let url = link.body["url"].as_str().unwrap().to_owned();
    let expires = time::OffsetDateTime::parse(
        link.body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(left > time::Duration::seconds(200) && left <= time::Duration::seconds(300));
    // The link names this user's PDF only; another user's POST gets their own.
    let other = s.user_token("other@example.com").await;
    let theirs = s.call("POST", "/users/me/pdf", &other, None, &[]).await;
    assert_ne!(theirs.body["url"], link.body["url"]);
    let text = pdf_text(&s, theirs.body["url"].as_str().unwrap()).await;
    assert!(text.contains("other@example.com") && !text.contains("link@example.com"));
    if matches!(s.config.backend, shared::config::Backend::Embedded) {
        // A link pointed at another user's PDF is refused (moto does not
        // check S3 signatures, so this half runs on the embedded store).
        let mine = s.get("/users/me", Some(&t)).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let theirs_id = s.get("/users/me", Some(&other)).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(url.contains(&mine));
        let tampered = url.replace(&mine, &theirs_id);
        let bad = s.client.get(&tampered).send().await.unwrap();
        assert!(bad.status().is_client_error(), "{}", bad.status());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_deletes_the_pdf() {
    let s = TestServer::start().await;
    let t = s.user_token("bye-pdf@example.com").await;
    let me = s.get("/users/me", Some(&t)).await.body;
    let id = me["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.call("POST", "/users/me/pdf", &t, None, &[]).await.status,
        201
    );
    let key = shared::profile_pdf::blob_key(&id);
    let state = s.running.state.clone();
    assert!(state.blobs.get(&key).await.unwrap().is_some());
    let gone = s
        .call(
            "DELETE",
            "/users/me",
            &t,
            Some(json!({"password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    // The user.deleted consumer removes it: allow it a moment.
    for _ in 0..50 {
        if state.blobs.get(&key).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(state.blobs.get(&key).await.unwrap().is_none());
    assert!(state.pdfs.record(&id).await.unwrap().is_none());
}

/// A user with an avatar gets it drawn in the PDF (read back: an image
/// XObject of the thumbnail's size), and a new avatar makes the stored PDF
/// out of date, as a profile change does.
#[tokio::test(flavor = "multi_thread")]
async fn the_avatar_is_drawn_and_a_new_one_dates_the_pdf() {
    let s = TestServer::start().await;
    let token = s.user_token("portrait@example.com").await;
    let avatar = |shade: u8| {
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            300,
            300,
            image::Rgb([shade, 90, 200]),
        ));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let put = |bytes: Vec<u8>| {
        s.send(
            s.client
                .put(s.url("/users/me/avatar"))
                .bearer_auth(&token)
                .header("content-type", "image/png")
                .body(bytes),
        )
    };
    assert_eq!(put(avatar(10)).await.status, 200);
    let pdf = s.post_auth("/users/me/pdf", &token, json!({})).await;
    assert_eq!(pdf.status, 201, "{}", pdf.text);
    let bytes = s
        .client
        .get(pdf.body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let doc = lopdf::Document::load_mem(&bytes).unwrap();
    let images: Vec<(i64, i64, Vec<u8>)> = doc
        .objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .filter(|s| {
            s.dict.get(b"Subtype").and_then(|v| v.as_name()).ok() == Some(b"Image".as_slice())
        })
        .map(|s| {
            (
                s.dict.get(b"Width").unwrap().as_i64().unwrap(),
                s.dict.get(b"Height").unwrap().as_i64().unwrap(),
                s.dict.get(b"Filter").unwrap().as_name().unwrap().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        images,
        [(128, 128, b"DCTDecode".to_vec())],
        "the JPEG thumbnail, once, embedded as is"
    );
    assert!(
        pdf_text(&s, pdf.body["url"].as_str().unwrap())
            .await
            .contains("portrait@example.com")
    );

    assert_eq!(put(avatar(200)).await.status, 200);
    let stale = s.get("/users/me/pdf", Some(&token)).await;
    assert_eq!(stale.body["current"], false, "{}", stale.text);
    let redrawn = s.post_auth("/users/me/pdf", &token, json!({})).await;
    assert_eq!(redrawn.status, 201);
}
