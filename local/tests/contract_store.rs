//! The item-store contract, on the embedded store and on DynamoDB (moto).

mod common;

use std::sync::Arc;

use common::{TestBackend, state};
use serde_json::{Value, json};
use shared::ports::item_store::{
    Attrs, Change, Condition, Index, ItemStore, Key, Query, SortKey, StoreError, Write,
};

fn item(v: Value) -> Attrs {
    v.as_object().unwrap().clone()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

on_both_backends!(
    conditional_puts,
    versioned_updates,
    update_changes_and_upserts,
    conditional_deletes,
    stock_never_goes_negative,
    transactions_are_all_or_nothing,
    values_round_trip,
    sort_key_conditions,
    cursor_pagination_over_pages,
    secondary_index_queries,
    expired_items_are_absent,
    bad_cursors_are_refused,
    scans_page_through_every_live_item,
    get_many_reads_items_in_the_order_asked,
);

async fn get_many_reads_items_in_the_order_asked(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    for (sk, expires) in [("A", now() + 3600), ("B", now() + 3600), ("C", now() - 10)] {
        store
            .put(
                item(json!({"pk": "GM#1", "sk": sk, "n": sk, "expires_at": expires})),
                None,
            )
            .await
            .unwrap();
    }
    let keys = [
        Key::new("GM#1", "B"),
        Key::new("GM#1", "missing"),
        Key::new("GM#1", "A"),
        Key::new("GM#1", "C"), // expired: absent, as from `get`
        Key::new("GM#2", "A"),
        Key::new("GM#1", "A"), // asked twice: answered twice
    ];
    let got: Vec<Option<String>> = store
        .get_many(&keys)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.map(|i| i["n"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        got,
        [Some("B"), None, Some("A"), None, None, Some("A")].map(|n| n.map(str::to_owned))
    );
    // The whole item, as `get` returns it.
    assert_eq!(
        store.get_many(&keys[..1]).await.unwrap()[0],
        store.get(&keys[0]).await.unwrap()
    );
    assert_eq!(
        store.get_many(&[]).await.unwrap(),
        Vec::<Option<Attrs>>::new()
    );
    let too_many: Vec<Key> = (0..101).map(|i| Key::new("GM#3", format!("{i}"))).collect();
    assert!(matches!(
        store.get_many(&too_many).await,
        Err(StoreError::Internal(_))
    ));
}

async fn scans_page_through_every_live_item(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    // Over one page (1000), across partitions, plus one expired item.
    for batch in 0..11 {
        let writes = (0..100)
            .map(|i| Write::Put {
                item: item(
                    json!({"pk": format!("SCAN#{}", i % 7), "sk": format!("{batch:02}-{i:03}")}),
                ),
                condition: None,
            })
            .collect();
        store.transact(writes).await.unwrap();
    }
    store
        .put(
            item(json!({"pk": "SCAN#X", "sk": "gone", "expires_at": now() - 10})),
            None,
        )
        .await
        .unwrap();
    let first = store.scan(None).await.unwrap();
    assert!(first.cursor.is_some(), "1100 items take more than one page");
    let all = store.scan_all().await.unwrap();
    let mut keys: Vec<Key> = all.iter().map(|i| Key::of(i).unwrap()).collect();
    keys.sort_by(|a, b| (&a.pk, &a.sk).cmp(&(&b.pk, &b.sk)));
    keys.dedup();
    assert_eq!(keys.len(), 1100, "every live item exactly once");
    assert_eq!(all.len(), 1100);
    assert!(!keys.contains(&Key::new("SCAN#X", "gone")));
    assert_eq!(
        store.scan(Some("garbage".into())).await,
        Err(StoreError::InvalidCursor)
    );
}

async fn conditional_puts(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    let a = item(json!({"pk": "P#1", "sk": "A", "n": 1}));
    store
        .put(a.clone(), Some(Condition::NotExists))
        .await
        .unwrap();
    assert_eq!(
        store.get(&Key::new("P#1", "A")).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.put(a.clone(), Some(Condition::NotExists)).await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(store.get(&Key::new("P#1", "B")).await.unwrap(), None);
    let b2 = item(json!({"pk": "P#1", "sk": "B"}));
    assert_eq!(
        store.put(b2.clone(), Some(Condition::Exists)).await,
        Err(StoreError::ConditionFailed)
    );
    store.put(b2, None).await.unwrap();
    store
        .put(
            item(json!({"pk": "P#1", "sk": "A", "n": 2})),
            Some(Condition::Exists),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get(&Key::new("P#1", "A")).await.unwrap().unwrap()["n"],
        2
    );
}

async fn versioned_updates(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    store
        .put(
            item(json!({"pk": "U#1", "sk": "P", "version": 1, "name": "a"})),
            None,
        )
        .await
        .unwrap();
    let v1 = Condition::Equals("version".into(), json!(1));
    let next = store
        .update(
            Key::new("U#1", "P"),
            vec![
                Change::Set("name".into(), json!("b")),
                Change::Add("version".into(), 1),
            ],
            Some(v1.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        (next["name"].clone(), next["version"].clone()),
        (json!("b"), json!(2))
    );
    let stale = store
        .update(
            Key::new("U#1", "P"),
            vec![Change::Set("name".into(), json!("c"))],
            Some(v1),
        )
        .await;
    assert_eq!(stale, Err(StoreError::ConditionFailed));
    assert_eq!(
        store.get(&Key::new("U#1", "P")).await.unwrap().unwrap()["name"],
        "b"
    );
    let stale_put = store
        .put(
            item(json!({"pk": "U#1", "sk": "P", "version": 9})),
            Some(Condition::Equals("version".into(), json!(1))),
        )
        .await;
    assert_eq!(stale_put, Err(StoreError::ConditionFailed));
}

async fn update_changes_and_upserts(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    let key = Key::new("C#1", "COUNT");
    let first = store
        .update(
            key.clone(),
            vec![
                Change::Add("hits".into(), 1),
                Change::Set("tag".into(), json!("x")),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(first["hits"], 1);
    assert_eq!(first["pk"], "C#1");
    let second = store
        .update(
            key.clone(),
            vec![Change::Add("hits".into(), 5), Change::Remove("tag".into())],
            None,
        )
        .await
        .unwrap();
    assert_eq!(second["hits"], 6);
    assert!(second.get("tag").is_none());
    let missing = store
        .update(
            Key::new("C#2", "COUNT"),
            vec![Change::Add("hits".into(), 1)],
            Some(Condition::Exists),
        )
        .await;
    assert_eq!(missing, Err(StoreError::ConditionFailed));
    assert_eq!(store.get(&Key::new("C#2", "COUNT")).await.unwrap(), None);
}

async fn conditional_deletes(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    store
        .put(item(json!({"pk": "D#1", "sk": "X", "version": 3})), None)
        .await
        .unwrap();
    let wrong = store
        .delete(
            Key::new("D#1", "X"),
            Some(Condition::Equals("version".into(), json!(2))),
        )
        .await;
    assert_eq!(wrong, Err(StoreError::ConditionFailed));
    let old = store
        .delete(
            Key::new("D#1", "X"),
            Some(Condition::Equals("version".into(), json!(3))),
        )
        .await
        .unwrap();
    assert_eq!(old.unwrap()["version"], 3);
    assert_eq!(store.get(&Key::new("D#1", "X")).await.unwrap(), None);
    assert_eq!(
        store.delete(Key::new("D#1", "X"), None).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .delete(Key::new("D#1", "X"), Some(Condition::Exists))
            .await,
        Err(StoreError::ConditionFailed)
    );
    for condition in [
        Condition::All(vec![Condition::Exists]),
        Condition::All(vec![
            Condition::Exists,
            Condition::Equals("version".into(), json!(3)),
        ]),
    ] {
        assert_eq!(
            store.delete(Key::new("D#1", "X"), Some(condition)).await,
            Err(StoreError::ConditionFailed)
        );
    }
}

async fn stock_never_goes_negative(b: TestBackend) {
    let (_d, s) = state(b).await;
    store_stock(s, 5, 12).await;
}

async fn store_stock(s: Arc<shared::AppState>, stock: i64, buyers: usize) {
    s.store
        .put(
            item(json!({"pk": "BOOK#1", "sk": "STOCK", "stock": stock})),
            None,
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..buyers {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.store
                .update(
                    Key::new("BOOK#1", "STOCK"),
                    vec![Change::Add("stock".into(), -1)],
                    Some(Condition::AtLeast("stock".into(), 1)),
                )
                .await
        }));
    }
    let mut sold = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => sold += 1,
            Err(StoreError::ConditionFailed) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(sold, stock);
    assert_eq!(
        s.store
            .get(&Key::new("BOOK#1", "STOCK"))
            .await
            .unwrap()
            .unwrap()["stock"],
        0
    );
}

async fn transactions_are_all_or_nothing(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    store
        .put(item(json!({"pk": "T#taken", "sk": "CLAIM"})), None)
        .await
        .unwrap();
    store
        .put(
            item(json!({"pk": "T#acct", "sk": "BAL", "balance": 10})),
            None,
        )
        .await
        .unwrap();
    let writes = vec![
        Write::Put {
            item: item(json!({"pk": "T#new", "sk": "ROW"})),
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: Key::new("T#acct", "BAL"),
            changes: vec![Change::Add("balance".into(), -3)],
            condition: None,
        },
        Write::Put {
            item: item(json!({"pk": "T#taken", "sk": "CLAIM", "x": 1})),
            condition: Some(Condition::NotExists),
        },
        Write::Delete {
            key: Key::new("T#gone", "X"),
            condition: None,
        },
    ];
    match store.transact(writes).await {
        Err(StoreError::TransactionCanceled { failed }) => assert_eq!(failed, vec![2]),
        other => panic!("expected a cancellation, got {other:?}"),
    }
    assert_eq!(store.get(&Key::new("T#new", "ROW")).await.unwrap(), None);
    assert_eq!(
        store
            .get(&Key::new("T#acct", "BAL"))
            .await
            .unwrap()
            .unwrap()["balance"],
        10
    );
    assert!(
        store
            .get(&Key::new("T#taken", "CLAIM"))
            .await
            .unwrap()
            .unwrap()
            .get("x")
            .is_none()
    );

    let ok = vec![
        Write::Put {
            item: item(json!({"pk": "T#new", "sk": "ROW"})),
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: Key::new("T#acct", "BAL"),
            changes: vec![Change::Add("balance".into(), -3)],
            condition: Some(Condition::AtLeast("balance".into(), 3)),
        },
        Write::Check {
            key: Key::new("T#taken", "CLAIM"),
            condition: Condition::Exists,
        },
        Write::Delete {
            key: Key::new("T#taken", "CLAIM"),
            condition: None,
        }
        .clone(),
    ];
    // A key may appear once per transaction: checking and deleting one item is refused.
    assert!(matches!(
        store.transact(ok.clone()).await,
        Err(StoreError::Internal(_))
    ));
    store.transact(ok[..3].to_vec()).await.unwrap();
    assert!(
        store
            .get(&Key::new("T#new", "ROW"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .get(&Key::new("T#acct", "BAL"))
            .await
            .unwrap()
            .unwrap()["balance"],
        7
    );
}

async fn values_round_trip(b: TestBackend) {
    let (_d, s) = state(b).await;
    let v = item(json!({
        "pk": "V#1", "sk": "ALL", "s": "héllo ✓", "empty": "", "i": -42, "big": 9_007_199_254_740_991u64,
        "f": 1.5, "t": true, "nil": null, "list": [1, "two", [3.25], {"four": 4}], "map": {"a": {"b": [true]}}
    }));
    s.store.put(v.clone(), None).await.unwrap();
    assert_eq!(s.store.get(&Key::new("V#1", "ALL")).await.unwrap(), Some(v));
}

async fn seed(store: &dyn ItemStore, pk: &str, n: usize) {
    for i in 0..n {
        store
            .put(
                item(json!({"pk": pk, "sk": format!("ITEM#{i:03}"), "i": i})),
                None,
            )
            .await
            .unwrap();
    }
    store
        .put(item(json!({"pk": pk, "sk": "META"})), None)
        .await
        .unwrap();
}

fn sks(items: &[Attrs]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["sk"].as_str().unwrap().to_owned())
        .collect()
}

async fn sort_key_conditions(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    seed(store, "Q#1", 5).await;
    seed(store, "Q#2", 2).await;
    let q = |sk| Query::new(Index::Primary, "Q#1").sk(sk);
    // Prefixes compare bytes: neighbours on either side, and multi-byte
    // characters right after the prefix, are told apart exactly.
    for sk in [
        "ab",
        "ab\u{7ff}",
        "abz",
        "ab\u{10000}x",
        "aa\u{10ffff}",
        "ac",
        "a",
        "b",
    ] {
        store
            .put(item(json!({"pk": "PFX", "sk": sk})), None)
            .await
            .unwrap();
    }
    for descending in [false, true] {
        let mut query = Query::new(Index::Primary, "PFX").sk(SortKey::BeginsWith("ab".into()));
        if descending {
            query = query.descending();
        }
        let mut found = sks(&store.query(query).await.unwrap().items);
        found.sort();
        assert_eq!(found, vec!["ab", "abz", "ab\u{7ff}", "ab\u{10000}x"]);
    }
    assert_eq!(
        store
            .query(q(SortKey::BeginsWith("ITEM#".into())))
            .await
            .unwrap()
            .items
            .len(),
        5
    );
    assert_eq!(
        sks(&store
            .query(q(SortKey::Between("ITEM#001".into(), "ITEM#003".into())))
            .await
            .unwrap()
            .items),
        ["ITEM#001", "ITEM#002", "ITEM#003"]
    );
    assert_eq!(
        sks(&store
            .query(q(SortKey::GreaterThan("ITEM#003".into())))
            .await
            .unwrap()
            .items),
        ["ITEM#004", "META"]
    );
    assert_eq!(
        sks(&store
            .query(q(SortKey::LessThan("ITEM#001".into())))
            .await
            .unwrap()
            .items),
        ["ITEM#000"]
    );
    let all = store
        .query(Query::new(Index::Primary, "Q#1"))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 6);
    assert_eq!(all.cursor, None);
    let desc = store
        .query(q(SortKey::BeginsWith("ITEM#".into())).descending().limit(2))
        .await
        .unwrap();
    assert_eq!(sks(&desc.items), ["ITEM#004", "ITEM#003"]);
    let rest = store
        .query(
            q(SortKey::BeginsWith("ITEM#".into()))
                .descending()
                .limit(10)
                .cursor(desc.cursor),
        )
        .await
        .unwrap();
    assert_eq!(sks(&rest.items), ["ITEM#002", "ITEM#001", "ITEM#000"]);
}

async fn cursor_pagination_over_pages(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    seed(store, "PG#1", 25).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    // Bounded: a cursor that led back would page forever.
    for round in 0.. {
        assert!(round < 1_000, "the pages never ended");
        let page = store
            .query(
                Query::new(Index::Primary, "PG#1")
                    .sk(SortKey::BeginsWith("ITEM#".into()))
                    .limit(10)
                    .cursor(cursor),
            )
            .await
            .unwrap();
        pages += 1;
        seen.extend(sks(&page.items));
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("ITEM#{i:03}")).collect();
    assert_eq!(seen, expected);
    // Exactly a multiple of the page size: the last full page has no cursor.
    let ten = store
        .query(
            Query::new(Index::Primary, "PG#1")
                .sk(SortKey::Between("ITEM#000".into(), "ITEM#009".into()))
                .limit(10),
        )
        .await
        .unwrap();
    assert_eq!((ten.items.len(), ten.cursor), (10, None));
}

async fn secondary_index_queries(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    for (i, email) in ["b@x.io", "a@x.io", "c@y.io", "a@x.io"].iter().enumerate() {
        store
            .put(
                item(
                    json!({"pk": format!("USR#{i}"), "sk": "P", "gsi1pk": "IDX", "gsi1sk": email}),
                ),
                None,
            )
            .await
            .unwrap();
    }
    store
        .put(
            item(json!({"pk": "USR#9", "sk": "P", "gsi1pk": "IDX"})),
            None,
        )
        .await
        .unwrap();
    let all = store.query(Query::new(Index::Gsi1, "IDX")).await.unwrap();
    let emails: Vec<&str> = all
        .items
        .iter()
        .map(|i| i["gsi1sk"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["a@x.io", "a@x.io", "b@x.io", "c@y.io"],
        "sparse: items without gsi1sk are not indexed"
    );
    let prefix = store
        .query(Query::new(Index::Gsi1, "IDX").sk(SortKey::BeginsWith("a@".into())))
        .await
        .unwrap();
    assert_eq!(prefix.items.len(), 2);
    let mut seen = Vec::new();
    let mut cursor = None;
    // Bounded: a cursor that led back would page forever.
    for round in 0.. {
        assert!(round < 1_000, "the pages never ended");
        let page = store
            .query(Query::new(Index::Gsi1, "IDX").limit(1).cursor(cursor))
            .await
            .unwrap();
        seen.extend(
            page.items
                .iter()
                .map(|i| i["pk"].as_str().unwrap().to_owned()),
        );
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["USR#0", "USR#1", "USR#2", "USR#3"],
        "one page each, no duplicates, none missed"
    );
}

async fn expired_items_are_absent(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    store
        .put(
            item(json!({"pk": "E#1", "sk": "OLD", "expires_at": now() - 10})),
            None,
        )
        .await
        .unwrap();
    store
        .put(
            item(json!({"pk": "E#1", "sk": "NEW", "expires_at": now() + 3600})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.get(&Key::new("E#1", "OLD")).await.unwrap(), None);
    assert!(store.get(&Key::new("E#1", "NEW")).await.unwrap().is_some());
    assert_eq!(
        sks(&store
            .query(Query::new(Index::Primary, "E#1"))
            .await
            .unwrap()
            .items),
        ["NEW"]
    );
    assert_eq!(
        store
            .put(
                item(json!({"pk": "E#1", "sk": "OLD"})),
                Some(Condition::Exists)
            )
            .await,
        Err(StoreError::ConditionFailed)
    );
    store
        .put(
            item(json!({"pk": "E#1", "sk": "OLD", "fresh": true})),
            Some(Condition::NotExists),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get(&Key::new("E#1", "OLD")).await.unwrap().unwrap()["fresh"],
        true
    );
}

async fn bad_cursors_are_refused(b: TestBackend) {
    let (_d, s) = state(b).await;
    let store = s.store.as_ref();
    seed(store, "BC#1", 3).await;
    let page = store
        .query(Query::new(Index::Primary, "BC#1").limit(1))
        .await
        .unwrap();
    let other = store
        .query(Query::new(Index::Primary, "BC#2").cursor(page.cursor.clone()))
        .await;
    assert_eq!(other, Err(StoreError::InvalidCursor));
    for junk in ["", "!!!", "e30", "bm90LWpzb24"] {
        let r = store
            .query(Query::new(Index::Primary, "BC#1").cursor(Some(junk.into())))
            .await;
        assert_eq!(r, Err(StoreError::InvalidCursor), "{junk}");
    }
}
