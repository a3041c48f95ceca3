//! The blob-store contract, on the blob folder and on S3 (moto): objects,
//! and presigned URLs fetched over real HTTP.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{TestBackend, TestServer};
use shared::ports::{BlobError, Served};

on_both_backends!(
    objects_round_trip,
    presigned_get_over_http,
    presigned_put_over_http,
    listing_a_folder,
    unsafe_keys_are_refused
);

async fn objects_round_trip(b: TestBackend) {
    let s = TestServer::start_on(b).await;
    let blobs = s.running.state.blobs.clone();
    assert_eq!(blobs.get("avatars/u1/a.png").await.unwrap(), None);
    let png = Bytes::from_static(b"\x89PNG\r\n\x1a\nfake");
    let served = Served::inline("image/png", "a.png", "private, max-age=60");
    blobs
        .put("avatars/u1/a.png", png.clone(), &served)
        .await
        .unwrap();
    let got = blobs.get("avatars/u1/a.png").await.unwrap().unwrap();
    assert_eq!(
        (
            got.bytes,
            got.content_type.as_str(),
            got.content_disposition.as_deref(),
            got.cache_control.as_deref()
        ),
        (
            png,
            "image/png",
            Some(r#"inline; filename="a.png""#),
            Some("private, max-age=60")
        ),
        "the headers are stored with the object"
    );
    blobs
        .put(
            "avatars/u1/a.png",
            Bytes::from_static(b"v2"),
            &Served::upload("image/webp"),
        )
        .await
        .unwrap();
    assert_eq!(
        blobs
            .get("avatars/u1/a.png")
            .await
            .unwrap()
            .unwrap()
            .content_type,
        "image/webp"
    );
    blobs.delete("avatars/u1/a.png").await.unwrap();
    assert_eq!(blobs.get("avatars/u1/a.png").await.unwrap(), None);
    blobs.delete("avatars/u1/a.png").await.unwrap();
    blobs.health().await.unwrap();
}

async fn presigned_get_over_http(b: TestBackend) {
    let s = TestServer::start_on(b).await;
    let blobs = s.running.state.blobs.clone();
    blobs
        .put(
            "pdfs/u1/profile.pdf",
            Bytes::from_static(b"%PDF-1.7 test"),
            &Served::inline("application/pdf", "profile.pdf", "private, no-cache"),
        )
        .await
        .unwrap();
    let url = blobs
        .presign_get(
            "pdfs/u1/profile.pdf",
            Duration::from_secs(300),
            Some("profile.pdf"),
        )
        .await
        .unwrap();
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"profile.pdf\"",
        "the URL's download name wins over the stored disposition"
    );
    assert_eq!(r.headers()["cache-control"], "private, no-cache");
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.7 test");
}

async fn presigned_put_over_http(b: TestBackend) {
    let s = TestServer::start_on(b).await;
    let blobs = s.running.state.blobs.clone();
    let url = blobs
        .presign_put(
            "avatars/u2/new.png",
            "image/png",
            6,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    if b == TestBackend::Aws {
        // S3 refuses another size: the length is among the signed headers.
        let signed = url.to_ascii_lowercase();
        assert!(
            signed.contains("x-amz-signedheaders=content-length%3bcontent-type%3bhost"),
            "{url}"
        );
    }
    let r = reqwest::Client::new()
        .put(&url)
        .header("content-type", "image/png")
        .body("pixels")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let got = blobs.get("avatars/u2/new.png").await.unwrap().unwrap();
    assert_eq!(
        (got.bytes.as_ref(), got.content_type.as_str()),
        (b"pixels".as_ref(), "image/png")
    );
}

async fn listing_a_folder(b: TestBackend) {
    let (_dir, state) = common::state(b).await;
    let blobs = state.blobs.clone();
    for key in [
        "l/u1/a/512.jpg",
        "l/u1/a/128.jpg",
        "l/u1/b.png",
        "l/u10/c.png",
        "l/u2/d.png",
    ] {
        blobs
            .put(
                key,
                bytes::Bytes::from_static(b"x"),
                &Served::upload("image/png"),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        blobs.list("l/u1/").await.unwrap(),
        ["l/u1/a/128.jpg", "l/u1/a/512.jpg", "l/u1/b.png"],
        "only that folder, not l/u10/"
    );
    assert!(blobs.list("l/none/").await.unwrap().is_empty());
    blobs.delete("l/u1/b.png").await.unwrap();
    assert_eq!(blobs.list("l/u1/").await.unwrap().len(), 2);
}

async fn unsafe_keys_are_refused(b: TestBackend) {
    let s = TestServer::start_on(b).await;
    let blobs = s.running.state.blobs.clone();
    for key in ["../etc/passwd", "/abs", "a//b", "a/../b", "sp ace"] {
        assert_eq!(
            blobs
                .put(key, Bytes::from_static(b"x"), &Served::upload("text/plain"))
                .await,
            Err(BlobError::InvalidKey),
            "{key}"
        );
        assert_eq!(blobs.get(key).await, Err(BlobError::InvalidKey), "{key}");
        assert!(
            blobs
                .presign_get(key, Duration::from_secs(60), None)
                .await
                .is_err(),
            "{key}"
        );
    }
}

/// moto does not check presigned signatures, so signing and expiry are
/// proven on the embedded adapter, over HTTP through the local server.
#[tokio::test(flavor = "multi_thread")]
async fn embedded_urls_check_signature_method_type_and_expiry() {
    let s = TestServer::start_on(TestBackend::Embedded).await;
    let blobs = s.running.state.blobs.clone();
    blobs
        .put(
            "f/a.txt",
            Bytes::from_static(b"secret"),
            &Served::upload("text/plain"),
        )
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let good = blobs
        .presign_get("f/a.txt", Duration::from_secs(60), None)
        .await
        .unwrap();
    assert_eq!(client.get(&good).send().await.unwrap().status(), 200);
    let other_key = good.replace("/f/a.txt?", "/f/b.txt?");
    assert_eq!(client.get(&other_key).send().await.unwrap().status(), 403);
    let tampered = good.replace("expires=", "expires=9");
    assert_eq!(client.get(&tampered).send().await.unwrap().status(), 403);
    let unsigned = good.split('?').next().unwrap().to_owned();
    assert_eq!(client.get(&unsigned).send().await.unwrap().status(), 403);
    assert_eq!(
        client
            .put(&good)
            .body("overwrite")
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "a GET URL cannot PUT"
    );

    let put = blobs
        .presign_put("f/up.png", "image/png", 8, Duration::from_secs(60))
        .await
        .unwrap();
    let wrong_length = client
        .put(&put)
        .header("content-type", "image/png")
        .body("more than eight bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_length.status(), 403, "the signed length is enforced");
    let wrong_type = client
        .put(&put)
        .header("content-type", "text/html")
        .body("<script>")
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_type.status(),
        403,
        "the signed content type is enforced"
    );
    assert_eq!(blobs.get("f/up.png").await.unwrap(), None);

    let short = blobs
        .presign_get("f/a.txt", Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(client.get(&short).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        client.get(&short).send().await.unwrap().status(),
        403,
        "expired"
    );
}
