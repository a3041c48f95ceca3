//! The book shop, black-box through the local server (on the backend
//! `TEST_BACKEND` selects): catalog, orders, stock that never goes negative.

mod common;

use common::TestServer;
use serde_json::{Value, json};

const ADMIN: &str = "shopkeeper@example.com";

async fn server() -> TestServer {
    TestServer::start_with(|mut c| {
        c.admin_emails = vec![ADMIN.into()];
        c
    })
    .await
}

async fn add_book(s: &TestServer, admin: &str, title: &str, price: i64, stock: i64) -> Value {
    let a = s
        .call(
            "POST",
            "/books",
            admin,
            Some(json!({"title": title, "author": "A. Author", "price_cents": price, "stock": stock})),
            &[],
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_keep_the_catalog_and_everyone_reads_it() {
    let s = server().await;
    let admin = s.admin_token(ADMIN).await;
    let user = s.user_token("reader@example.com").await;
    let b = add_book(&s, &admin, "Structure and Interpretation", 4500, 3).await;
    add_book(&s, &admin, "a Discipline of Programming", 3900, 1).await;
    assert_eq!(b["stock"], 3);
    s.call(
        "POST",
        "/books",
        &user,
        Some(json!({"title": "x", "author": "y", "price_cents": 1})),
        &[],
    )
    .await
    .problem(403);
    let list = s.send(s.client.get(s.url("/books"))).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let titles: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "a Discipline of Programming",
            "Structure and Interpretation"
        ]
    );
    let one = s
        .send(s.client.get(s.url(&format!("/books/{}", id(&b)))))
        .await;
    assert_eq!(one.body, b);
    s.send(s.client.get(s.url("/books/not-a-uuid")))
        .await
        .problem(404);

    let bad = s
        .call(
            "POST",
            "/books",
            &admin,
            Some(json!({"title": " ", "price_cents": -5, "stock": 2_000_000, "isbn": "978-0-306-40615-8"})),
            &[],
        )
        .await;
    let mut fields = bad.fields();
    fields.sort();
    assert_eq!(fields, ["author", "isbn", "price_cents", "stock", "title"]);

    let path = format!("/books/{}", id(&b));
    let edited = s
        .call(
            "PATCH",
            &path,
            &admin,
            Some(json!({"price_cents": 4200, "stock_delta": 2, "isbn": "978-0-306-40615-7"})),
            &[("if-match", "\"v1\"")],
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["price_cents"], 4200);
    assert_eq!(edited.body["stock"], 5);
    assert_eq!(edited.body["isbn"], "9780306406157");
    assert_eq!(edited.body["version"], 2);
    // An edit that changes nothing writes nothing.
    let same = s
        .call(
            "PATCH",
            &path,
            &admin,
            Some(json!({"price_cents": 4200})),
            &[],
        )
        .await;
    assert_eq!(same.body["version"], 2, "{}", same.text);
    s.call(
        "PATCH",
        &path,
        &admin,
        Some(json!({"price_cents": 1})),
        &[("if-match", "\"v1\"")],
    )
    .await
    .problem(412);
    s.call(
        "PATCH",
        &path,
        &admin,
        Some(json!({"stock_delta": -6})),
        &[],
    )
    .await
    .problem(409);
    s.call("PATCH", &path, &user, Some(json!({"price_cents": 1})), &[])
        .await
        .problem(403);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_takes_its_copies_or_nothing() {
    let s = server().await;
    let admin = s.admin_token(ADMIN).await;
    let buyer = s.user_token("buyer@example.com").await;
    let other = s.user_token("other@example.com").await;
    let a = add_book(&s, &admin, "Book A", 1000, 3).await;
    let b = add_book(&s, &admin, "Book B", 250, 1).await;

    let order = s
        .call(
            "POST",
            "/orders",
            &buyer,
            Some(json!({"items": [{"book_id": id(&a), "quantity": 2}, {"book_id": id(&b), "quantity": 1}]})),
            &[],
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!(order.body["total_cents"], 2250);
    assert_eq!(order.body["lines"][0]["unit_price_cents"], 1000);
    assert_eq!(
        order.headers["location"],
        format!("/orders/{}", id(&order.body))
    );
    let stock = |book: Value| {
        let (s, path) = (&s, format!("/books/{}", id(&book)));
        async move { s.send(s.client.get(s.url(&path))).await.body["stock"].clone() }
    };
    assert_eq!(stock(a.clone()).await, 1);
    assert_eq!(stock(b.clone()).await, 0);

    // B is sold out: the whole order fails and A keeps its copy.
    let refused = s
        .call(
            "POST",
            "/orders",
            &buyer,
            Some(json!({"items": [{"book_id": id(&a), "quantity": 1}, {"book_id": id(&b), "quantity": 1}]})),
            &[],
        )
        .await;
    refused.problem(409);
    assert!(refused.body["detail"].as_str().unwrap().contains("Book B"));
    assert_eq!(stock(a.clone()).await, 1);
    let mine = s.get("/orders", Some(&buyer)).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);

    // Orders are private.
    let path = format!("/orders/{}", id(&order.body));
    assert_eq!(s.get(&path, Some(&buyer)).await.body, order.body);
    s.get(&path, Some(&other)).await.problem(404);
    assert_eq!(
        s.get("/orders", Some(&other)).await.body["items"],
        json!([])
    );

    // Bad orders name their bad fields and write nothing.
    for (body, field) in [
        (json!({"items": []}), "items"),
        (json!({}), "items"),
        (
            json!({"items": [{"book_id": "nope", "quantity": 1}]}),
            "items[0].book_id",
        ),
        (
            json!({"items": [{"book_id": id(&a), "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [{"book_id": id(&a), "quantity": 1}, {"book_id": id(&a), "quantity": 1}]}),
            "items[1].book_id",
        ),
        (
            json!({"items": [{"book_id": "0193a000-0000-7000-8000-000000000000", "quantity": 1}]}),
            "items[0].book_id",
        ),
    ] {
        let a = s.call("POST", "/orders", &buyer, Some(body), &[]).await;
        assert_eq!(a.fields(), vec![field], "{}", a.text);
    }
    assert_eq!(stock(a).await, 1);
    assert_eq!(s.get("/books", None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_copies_go_to_exactly_as_many_buyers() {
    let s = server().await;
    let admin = s.admin_token(ADMIN).await;
    let book = add_book(&s, &admin, "Scarce", 999, 5).await;
    let buyer = s.user_token("rush@example.com").await;
    let attempts = (0..12).map(|_| {
        let (s, buyer, book_id) = (&s, &buyer, id(&book));
        async move {
            s.call(
                "POST",
                "/orders",
                buyer,
                Some(json!({"items": [{"book_id": book_id, "quantity": 1}]})),
                &[],
            )
            .await
            .status
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|&&c| c == 201).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|c| [201, 409].contains(c)),
        "{statuses:?}"
    );
    let left = s
        .send(s.client.get(s.url(&format!("/books/{}", id(&book)))))
        .await;
    assert_eq!(left.body["stock"], 0);
    let orders = s.get("/orders?limit=100", Some(&buyer)).await;
    assert_eq!(orders.body["items"].as_array().unwrap().len(), 5);
}

/// An order without lines never reaches the repository's per-line indexing;
/// and a transaction that fails on no line's condition (a conflict that
/// outlasted the retries) is a 503 to try again, not a 409 naming a book.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_fails_for_its_real_cause() {
    use shared::domain::Order;
    use shared::repo::shop::OrderError;
    let s = server().await;
    let empty = Order {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: "someone".into(),
        lines: vec![],
        total_cents: 0,
        status: "placed".into(),
        created_at: time::OffsetDateTime::now_utc(),
    };
    assert_eq!(
        s.running.state.shop.place(&empty).await.unwrap(),
        Err(OrderError::NoLines)
    );

    let admin = s.admin_token(ADMIN).await;
    let book = add_book(&s, &admin, "Contended", 1000, 5).await;
    let buyer = s.user_token("buyer-conflict@example.com").await;
    let faults = edge::faults::Faults::new();
    let faulty = edge::wiring::with_faults(&s.running.state, &faults);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = local::serve(faulty, listener, false);
    faults.arm(
        edge::faults::Plan::Every("store.transact"),
        edge::faults::Kind::Conflict,
    );
    let a = s
        .send(
            s.client
                .post(format!("{}/orders", server.url()))
                .bearer_auth(&buyer)
                .json(&json!({"items": [{"book_id": id(&book), "quantity": 1}]})),
        )
        .await;
    a.problem(503);
    assert!(a.headers.contains_key("retry-after"));
    assert!(!a.text.contains("Contended"), "{}", a.text);
}
