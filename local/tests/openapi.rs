//! The OpenAPI document: committed copy up to date, every route documented
//! (and nothing else), served with its docs page.

mod common;

use std::collections::BTreeSet;

use common::TestServer;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");

#[test]
fn the_committed_openapi_json_is_up_to_date() {
    let generated = local::openapi::json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p local --test openapi` and commit it"
    );
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc: serde_json::Value = serde_json::from_str(&local::openapi::json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routes: BTreeSet<_> = local::routes::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, routes);
    // Protected operations declare the bearer scheme; public ones do not.
    for r in local::routes::ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert_eq!(
            op["security"].is_array(),
            r.protected,
            "{} {}",
            r.method,
            r.path
        );
        for status in ["400", "422", "500"] {
            assert!(
                op["responses"][status].is_object(),
                "{} {} lacks {status}",
                r.method,
                r.path
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_serves_the_document_and_its_docs_page() {
    let s = TestServer::start().await;
    let spec = s.get("/openapi.json", None).await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.text, local::openapi::json());
    for page in ["/docs", "/redoc"] {
        let docs = s.send(s.client.get(s.url(page))).await;
        assert_eq!(docs.status, 200, "{page}");
        assert!(
            docs.text.contains(r#"src="docs/redoc.standalone.js""#) && !docs.text.contains("cdn"),
            "{page}: Redoc from this server, by a relative URL (any base path)"
        );
    }
    let js = s
        .client
        .get(s.url("/docs/redoc.standalone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 1_000_000);
}
