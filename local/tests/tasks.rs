//! Tasks, black-box through the local server (on the backend `TEST_BACKEND`
//! selects): CRUD, validation, ownership, optimistic concurrency, paging.

mod common;

use std::collections::HashSet;

use common::TestServer;
use serde_json::{Value, json};

async fn create(s: &TestServer, token: &str, body: Value) -> Value {
    let a = s.call("POST", "/tasks", token, Some(body), &[]).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.body
}

fn id(task: &Value) -> String {
    task["id"].as_str().unwrap().to_owned()
}

/// Every item of a listing, following `next_cursor` page by page.
async fn every_page(s: &TestServer, token: &str, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = first.to_owned();
    // Bounded: a cursor that led back would page forever.
    for _ in 0..1_000 {
        let page = s.get(&path, Some(token)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        items.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("{first}&cursor={c}"),
            None => return items,
        }
    }
    panic!("more than 1,000 pages");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_lives_from_creation_to_deletion() {
    let s = TestServer::start().await;
    let t = s.user_token("tasker@example.com").await;
    let a = s
        .call(
            "POST",
            "/tasks",
            &t,
            Some(json!({"title": "  Write the report ", "description": "with numbers", "due_date": "2026-12-01"})),
            &[],
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let task = a.body.clone();
    assert_eq!(task["title"], "Write the report");
    assert_eq!(task["status"], "todo");
    assert_eq!(task["due_date"], "2026-12-01");
    assert_eq!(task["version"], 1);
    assert_eq!(a.headers["location"], format!("/tasks/{}", id(&task)));
    assert_eq!(a.headers["etag"], "\"v1\"");

    let got = s.get(&format!("/tasks/{}", id(&task)), Some(&t)).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, task);
    assert_eq!(got.headers["etag"], "\"v1\"");

    let path = format!("/tasks/{}", id(&task));
    let patched = s
        .call(
            "PATCH",
            &path,
            &t,
            Some(json!({"status": "done", "description": null, "due_date": null})),
            &[("if-match", "\"v1\"")],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["status"], "done");
    assert_eq!(patched.body["description"], Value::Null);
    assert_eq!(patched.body["due_date"], Value::Null);
    assert_eq!(patched.body["title"], "Write the report");
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.headers["etag"], "\"v2\"");

    // A change that changes nothing writes nothing.
    let same = s
        .call("PATCH", &path, &t, Some(json!({"status": "done"})), &[])
        .await;
    assert_eq!(same.body["version"], 2);

    let list = s.get("/tasks", Some(&t)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["next_cursor"], Value::Null);

    assert_eq!(s.call("DELETE", &path, &t, None, &[]).await.status, 204);
    s.get(&path, Some(&t)).await.problem(404);
    s.call("DELETE", &path, &t, None, &[]).await.problem(404);
    s.call("PATCH", &path, &t, Some(json!({"title": "x"})), &[])
        .await
        .problem(404);
    assert_eq!(
        s.get("/tasks", Some(&t)).await.body["items"],
        json!([]),
        "deleted tasks are not listed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_names_every_bad_field() {
    let s = TestServer::start().await;
    let t = s.user_token("picky@example.com").await;
    let a = s.call("POST", "/tasks", &t, Some(json!({})), &[]).await;
    assert_eq!(a.fields(), vec!["title"]);
    let a = s
        .call(
            "POST",
            "/tasks",
            &t,
            Some(json!({"title": "  ", "status": "later", "due_date": "2026-02-30", "description": "a\u{7}"})),
            &[],
        )
        .await;
    let mut fields = a.fields();
    fields.sort();
    assert_eq!(fields, vec!["description", "due_date", "status", "title"]);
    let a = s
        .call("POST", "/tasks", &t, Some(json!({"title": 42})), &[])
        .await;
    assert_eq!(a.fields(), vec!["title"]);
    let a = s
        .call(
            "POST",
            "/tasks",
            &t,
            Some(json!({"title": "x".repeat(201)})),
            &[],
        )
        .await;
    assert_eq!(a.fields(), vec!["title"]);
    let not_json = s
        .send(
            s.client
                .post(s.url("/tasks"))
                .bearer_auth(&t)
                .header("content-type", "application/json")
                .body("{\"title\": "),
        )
        .await;
    assert!(
        [400, 422].contains(&not_json.status.as_u16()),
        "{}",
        not_json.text
    );
    not_json.problem(not_json.status.as_u16());
    s.get("/tasks?status=someday", Some(&t)).await.problem(422);
    s.get("/tasks?limit=0", Some(&t)).await.problem(422);
    s.get("/tasks?cursor=garbage", Some(&t)).await.problem(400);
    s.get("/tasks/not-a-uuid", Some(&t)).await.problem(404);
    s.get("/tasks/0193a000-0000-7000-8000-000000000000", Some(&t))
        .await
        .problem(404);

    let task = create(&s, &t, json!({"title": "keep me"})).await;
    let path = format!("/tasks/{}", id(&task));
    let a = s
        .call(
            "PATCH",
            &path,
            &t,
            Some(json!({"title": "", "status": null})),
            &[],
        )
        .await;
    let mut fields = a.fields();
    fields.sort();
    assert_eq!(fields, vec!["title"], "{}", a.text);
    // Nothing was half-written.
    assert_eq!(s.get(&path, Some(&t)).await.body, task);
    // Nobody gets in without a token.
    assert_eq!(s.get("/tasks", None).await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_sees_or_touches_anyone_elses_tasks() {
    let s = TestServer::start().await;
    let alice = s.user_token("alice@example.com").await;
    let bob = s.user_token("bob@example.com").await;
    let task = create(&s, &alice, json!({"title": "alice's secret"})).await;
    let path = format!("/tasks/{}", id(&task));
    s.get(&path, Some(&bob)).await.problem(404);
    s.call(
        "PATCH",
        &path,
        &bob,
        Some(json!({"title": "mine now"})),
        &[],
    )
    .await
    .problem(404);
    s.call("DELETE", &path, &bob, None, &[]).await.problem(404);
    assert_eq!(s.get("/tasks", Some(&bob)).await.body["items"], json!([]));
    assert_eq!(s.get(&path, Some(&alice)).await.body, task);
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_writes_are_refused_and_concurrent_ones_serialized() {
    let s = TestServer::start().await;
    let t = s.user_token("racer@example.com").await;
    let task = create(&s, &t, json!({"title": "contended"})).await;
    let path = format!("/tasks/{}", id(&task));
    s.call("PATCH", &path, &t, Some(json!({"title": "a"})), &[])
        .await;
    s.call(
        "PATCH",
        &path,
        &t,
        Some(json!({"title": "b"})),
        &[("if-match", "\"v1\"")],
    )
    .await
    .problem(412);
    s.call(
        "PATCH",
        &path,
        &t,
        Some(json!({"title": "b", "version": 1})),
        &[],
    )
    .await
    .problem(409);
    s.call("DELETE", &path, &t, None, &[("if-match", "\"v1\"")])
        .await
        .problem(412);
    // Version 2 is current, but a weak tag never matches a write's If-Match
    // (RFC 9110's strong comparison); the strong one does.
    s.call(
        "PATCH",
        &path,
        &t,
        Some(json!({"title": "b"})),
        &[("if-match", "W/\"v2\"")],
    )
    .await
    .problem(412);
    let unchanged = s
        .call(
            "PATCH",
            &path,
            &t,
            Some(json!({"title": "a"})),
            &[("if-match", "\"v1\", \"v2\"")],
        )
        .await;
    // (The title is already "a": nothing is written, the version stays.)
    assert_eq!(unchanged.status, 200, "{}", unchanged.text);
    assert_eq!(unchanged.headers["etag"], "\"v2\"");

    // Ten edits of version 2 at once: exactly one wins, the rest are told.
    let edits = (0..10).map(|n| {
        let (s, t, path) = (&s, &t, &path);
        async move {
            s.call(
                "PATCH",
                path,
                t,
                Some(json!({"title": format!("edit {n}"), "version": 2})),
                &[],
            )
            .await
            .status
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(edits).await;
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|c| [200, 409].contains(c)),
        "{statuses:?}"
    );
    assert_eq!(s.get(&path, Some(&t)).await.body["version"], 3);
    assert_eq!(
        s.call("DELETE", &path, &t, None, &[("if-match", "\"v3\"")])
            .await
            .status,
        204
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_hold_every_task_once_newest_first() {
    let s = TestServer::start().await;
    let t = s.user_token("pager@example.com").await;
    let mut created = Vec::new();
    for n in 0..23 {
        let status = if n % 3 == 0 { "done" } else { "todo" };
        created.push(id(&create(
            &s,
            &t,
            json!({"title": format!("task {n}"), "status": status}),
        )
        .await));
    }
    let seen: Vec<String> = every_page(&s, &t, "/tasks?limit=10")
        .await
        .iter()
        .map(id)
        .collect();
    created.reverse();
    assert_eq!(seen, created);

    // One status, paged the same way.
    let mut done = Vec::new();
    for task in every_page(&s, &t, "/tasks?status=done&limit=3").await {
        assert_eq!(task["status"], "done");
        done.push(id(&task));
    }
    assert_eq!(done.len(), 8);
    assert_eq!(done.iter().collect::<HashSet<_>>().len(), 8);
    // A status change moves the task between the status listings.
    let first = &done[0];
    s.call(
        "PATCH",
        &format!("/tasks/{first}"),
        &t,
        Some(json!({"status": "in_progress"})),
        &[],
    )
    .await;
    let moved = s.get("/tasks?status=in_progress", Some(&t)).await;
    assert_eq!(moved.body["items"][0]["id"], first.as_str());
}
