//! Scale: does a page cost the same however much data sits behind it?
//!
//! - `GET /tasks` (first page of 20) for a user with 1,000 tasks and for one
//!   with 100,000, on the same store: the ratio should be about 1, since a
//!   page is one key-range query on the owner's partition;
//! - `GET /admin/users` (first page of 20 and 100, and an email-prefix
//!   search) with 10,000 users.
//!
//! Records are written through the repositories (tasks) and the user
//! repository with one precomputed password hash (10,000 argon2 hashes would
//! take minutes and measure nothing here).
//!
//! `cargo run --release -p bench --bin scale`

use std::time::{Duration, Instant};

use bench::{measure, us};
use serde_json::{Value, json};
use shared::domain::{Email, Task, TaskStatus, TaskTitle, User};

async fn seed_tasks(state: &shared::AppState, owner: &str, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        let status = if i % 3 == 0 {
            TaskStatus::Done
        } else {
            TaskStatus::Todo
        };
        let title = TaskTitle::parse(&format!("task number {i}")).unwrap();
        let task = Task::new(owner, title, None, status, None);
        state.tasks.create(&task).await.unwrap();
    }
    start.elapsed()
}

fn context(user_id: &str, role: &str) -> Value {
    json!({"user_id": user_id, "email": "x@example.com", "role": role, "session_id": "s"})
}

async fn page(
    state: &std::sync::Arc<shared::AppState>,
    ctx: &Value,
    query: &str,
) -> (Duration, Duration) {
    measure(2_000, |_| {
        let req = bench::event("GET", "/tasks", "/tasks", &[], query, None, ctx);
        let s = state.clone();
        async move {
            let r = tasks_crud::handle(s, req).await;
            assert_eq!(r.status(), 200);
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let (_dir, state) = bench::embedded_state("scale@example.com", "vivid tundra lantern 47").await;
    let small = "00000000-0000-7000-8000-00000000a001";
    let large = "00000000-0000-7000-8000-00000000b002";
    let t_small = seed_tasks(&state, small, 1_000).await;
    let t_large = seed_tasks(&state, large, 100_000).await;
    println!("seeded 1,000 tasks in {t_small:?}, 100,000 in {t_large:?}");

    let mut rows = String::new();
    let mut ratios = Vec::new();
    for (label, query) in [
        ("GET /tasks?limit=20", "limit=20"),
        ("GET /tasks?limit=100", "limit=100"),
        ("GET /tasks?status=done&limit=20", "status=done&limit=20"),
    ] {
        let a = page(&state, &context(small, "user"), query).await;
        let b = page(&state, &context(large, "user"), query).await;
        let ratio = b.0.as_secs_f64() / a.0.as_secs_f64();
        ratios.push(ratio);
        rows.push_str(&format!(
            "| {label} | {} / {} | {} / {} | {ratio:.2} |\n",
            us(a.0),
            us(a.1),
            us(b.0),
            us(b.1)
        ));
        println!("{label}: 1k {:?} 100k {:?} ratio {ratio:.2}", a.0, b.0);
    }
    // A page deep inside the 100,000: the cursor after 50,000 tasks.
    let mut cursor: Option<String> = None;
    for _ in 0..500 {
        let query = match &cursor {
            None => "limit=100".to_owned(),
            Some(c) => format!("limit=100&cursor={c}"),
        };
        let r = tasks_crud::handle(
            state.clone(),
            bench::event(
                "GET",
                "/tasks",
                "/tasks",
                &[],
                &query,
                None,
                &context(large, "user"),
            ),
        )
        .await;
        cursor = bench::body_json(&r)["next_cursor"]
            .as_str()
            .map(str::to_owned);
    }
    let cursor = cursor.expect("more pages after 50,000");
    let deep = page(
        &state,
        &context(large, "user"),
        &format!("limit=20&cursor={cursor}"),
    )
    .await;
    rows.push_str(&format!(
        "| GET /tasks?limit=20 after 50,000 tasks (cursor) | — | {} / {} | — |\n",
        us(deep.0),
        us(deep.1)
    ));

    // 10,000 users for the admin listing.
    let hash = shared::password::hash("vivid tundra lantern 47".into())
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let start = Instant::now();
    for i in 0..10_000 {
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            email: Email::parse(&format!("user{i:05}@example.com")).unwrap(),
            name: None,
            surname: None,
            username: None,
            date_of_birth: None,
            bio: None,
            avatar: None,
            role: shared::domain::Role::User,
            active: true,
            email_verified: false,
            sessions_cutoff: None,
            password_hash: hash.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        state
            .users
            .create(&user, Vec::new())
            .await
            .unwrap()
            .unwrap();
    }
    println!("seeded 10,000 users in {:?}", start.elapsed());
    let admin = context("00000000-0000-7000-8000-00000000ad00", "admin");
    let mut admin_rows = String::new();
    for (label, query) in [
        ("GET /admin/users?limit=20", "limit=20"),
        ("GET /admin/users?limit=100", "limit=100"),
        (
            "GET /admin/users?q=user0999&limit=20 (email prefix)",
            "q=user0999&limit=20",
        ),
    ] {
        let (p50, p99) = measure(1_000, |_| {
            let req = bench::event(
                "GET",
                "/admin/users",
                "/admin/users",
                &[],
                query,
                None,
                &admin,
            );
            let s = state.clone();
            async move {
                let r = admin::handle(s, req).await;
                assert_eq!(r.status(), 200, "{:?}", r.body());
            }
        })
        .await;
        admin_rows.push_str(&format!("| {label} | {} | {} |\n", us(p50), us(p99)));
        println!("{label}: {p50:?}");
    }

    let section = format!(
        "## Scale: a page costs the same whatever lies behind it\n\n\
         `cargo run --release -p bench --bin scale` — {}; in-process handlers on the embedded store. \
         Two users on one store, one with 1,000 tasks and one with 100,000 (seeded in {:.1} s through the task repository); \
         2,000 timed calls per row.\n\n\
         | request | 1,000 tasks p50 / p99 | 100,000 tasks p50 / p99 | ratio of p50s |\n|---|---|---|---|\n{rows}\n\
         Target: ratio ≈ 1 — {}. A page is one key-range query on the owner's partition (or the status index partition); \
         a cursor is the last key, so a page 50,000 tasks deep costs what the first does.\n\n\
         Admin listing with 10,000 users (plus the benchmark's own), 1,000 timed calls per row:\n\n\
         | request | p50 | p99 |\n|---|---|---|\n{admin_rows}",
        bench::machine(),
        t_large.as_secs_f64(),
        if ratios.iter().all(|r| (0.75..=1.33).contains(r)) {
            "**met**"
        } else {
            "**missed**"
        }
    );
    bench::write_section("scale", &section).unwrap();
}
