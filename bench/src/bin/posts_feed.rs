//! The posts feed:
//! 1. in-process p50/p99 of a memory HIT (the whole handler), a store HIT
//!    (a process with no copy reads the shared snapshot) and a MISS (fetch
//!    from a loopback upstream + store write), on the embedded store and,
//!    when `MOTO_ENDPOINT` is set, on moto;
//! 2. side by side under the same `oha` load on loopback: our local server
//!    and the system we replace (FastAPI + Redis, `bench/posts_peer.py`,
//!    uvicorn with uvloop + httptools and 2 workers), both against the same
//!    upstream with the same 60 s cache rule.
//!
//! `cargo run --release -p bench --bin posts-feed` (needs `oha`, `redis-server`
//! and `.venv` with `bench/requirements.txt`: `bench/run.sh` installs them). `BENCH_SECS` (default 10) and `BENCH_CONCURRENCY` (default 16).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bench::{measure, us};
use edge::testing::TestBackend;
use serde_json::Value;
use shared::Config;
use shared::posts::{CacheStatus, PostsFeed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn get_event(path_and_query: &str) -> lambda_http::Request {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    bench::event("GET", path, path, &[], query, None, &Value::Null)
}

/// In-process rows for one backend.
async fn in_process(label: &str, config: Config, runs: usize) -> String {
    let state = edge::wiring::build(config).await.unwrap();
    let mut rows = String::new();
    let mut row = |what: &str, (p50, p99): (Duration, Duration)| {
        println!("{label}: {what}: p50 {} p99 {}", us(p50), us(p99));
        rows.push_str(&format!(
            "| {label} | {what} | {} | {} |\n",
            us(p50),
            us(p99)
        ));
    };
    // Fill the cache once.
    assert_eq!(
        state.posts.current().await.unwrap().status,
        CacheStatus::Miss
    );

    let s = state.clone();
    row(
        "memory HIT: `GET /posts?page=2&per_page=10` (whole handler)",
        measure(runs * 10, |_| {
            let s = s.clone();
            async move {
                let r = posts::handle(s, get_event("/posts?page=2&per_page=10")).await;
                assert_eq!(r.status(), 200);
            }
        })
        .await,
    );
    let s = state.clone();
    row(
        "memory HIT: `GET /posts?search=lambda&per_page=20` (whole handler)",
        measure(runs * 10, |_| {
            let s = s.clone();
            async move {
                let r = posts::handle(s, get_event("/posts?search=lambda&per_page=20")).await;
                assert_eq!(r.status(), 200);
            }
        })
        .await,
    );
    let s = state.clone();
    row(
        "store HIT: a process with no copy reads the shared snapshot",
        measure(runs, |_| {
            let feed = PostsFeed::new(s.store.clone(), s.posts_source.clone(), &s.config);
            async move {
                assert_eq!(feed.current().await.unwrap().status, CacheStatus::Hit);
            }
        })
        .await,
    );
    let mut samples = Vec::with_capacity(runs / 4);
    for _ in 0..(runs / 4).max(20) {
        state.posts.drop_cache().await.unwrap();
        let feed = PostsFeed::new(
            state.store.clone(),
            state.posts_source.clone(),
            &state.config,
        );
        let start = Instant::now();
        assert_eq!(feed.current().await.unwrap().status, CacheStatus::Miss);
        samples.push(start.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    row(
        "MISS: fetch 100 posts over loopback HTTP, store the snapshot",
        (at(0.5), at(0.99)),
    );
    rows
}

/// Sends one `GET` over HTTP/1.0 and returns the status and parsed body.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_serving(addr: SocketAddr) {
    for _ in 0..300 {
        if let Ok((200, _)) = http_get(addr, "/posts").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr} did not start serving /posts");
}

async fn side_by_side(upstream: &str) -> String {
    let (secs, concurrency) = bench::load_settings();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

    // Ours: the local server, embedded store, the same upstream.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::embedded(dir.path());
    config.posts_api_url = Some(upstream.to_owned());
    let ours = local::start_with(config, SocketAddr::from(([127, 0, 0, 1], 0)), false)
        .await
        .unwrap();

    // Theirs: redis-server and uvicorn running bench/posts_peer.py.
    let redis_port = free_port();
    let _redis = tokio::process::Command::new("redis-server")
        .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (apt-get install redis-server)");
    let peer_port = free_port();
    let uvicorn = std::env::var("UVICORN").unwrap_or_else(|_| format!("{root}/.venv/bin/uvicorn"));
    // The peer's best configuration we found: uvloop + httptools, one
    // worker per core. (Plain `--workers 2` on asyncio + h11 loses
    // TCP_NODELAY on the shared socket and stalls every answer ~40 ms.)
    let mut peer_server = tokio::process::Command::new(uvicorn)
        .args(["posts_peer:app", "--app-dir", &format!("{root}/bench")])
        .args(["--host", "127.0.0.1", "--port", &peer_port.to_string()])
        .args(["--workers", "2", "--loop", "uvloop", "--http", "httptools"])
        .args(["--no-access-log", "--log-level", "warning"])
        .stdout(std::process::Stdio::null())
        .env("POSTS_API_URL", upstream)
        .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}/0"))
        .env("CACHE_TTL", "60")
        .kill_on_drop(true)
        .spawn()
        .expect("uvicorn in .venv (pip install -r bench/requirements.txt)");
    let peer = SocketAddr::from(([127, 0, 0, 1], peer_port));
    wait_until_serving(ours.addr).await;
    wait_until_serving(peer).await;

    let cases = [
        (
            "`GET /posts?page=2&per_page=10`",
            "/posts?page=2&per_page=10",
        ),
        (
            "`GET /posts?search=lambda&per_page=20`",
            "/posts?search=lambda&per_page=20",
        ),
    ];
    let mut rows = String::new();
    for (label, path) in cases {
        // Same endpoint, same answer.
        let (_, a) = http_get(ours.addr, path).await.unwrap();
        let (_, b) = http_get(peer, path).await.unwrap();
        assert_eq!(a, b, "both serve the same answer for {path}");
        let us_ = bench::oha(&format!("{}{path}", ours.url()), secs, concurrency, &[]).await;
        let them = bench::oha(&format!("http://{peer}{path}"), secs, concurrency, &[]).await;
        let ratio = us_.rps / them.rps.max(1.0);
        println!(
            "{path}: ours {:.0} req/s ({} errors), FastAPI+Redis {:.0} req/s ({} errors): {ratio:.1}x",
            us_.rps, us_.errors, them.rps, them.errors
        );
        for (who, r) in [
            ("ours: local server", &us_),
            (
                "FastAPI + Redis (uvicorn + uvloop + httptools, 2 workers)",
                &them,
            ),
        ] {
            rows.push_str(&format!(
                "| {label} | {who} | {:.0} | {:.2} ms | {:.2} ms | {} | {} |\n",
                r.rps, r.p50_ms, r.p99_ms, r.total, r.errors
            ));
        }
        rows.push_str(&format!("| | **ratio** | **{ratio:.1}×** | | | | |\n"));
    }
    // SIGTERM, so that uvicorn's supervisor stops its workers too.
    if let Some(pid) = peer_server.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(10), peer_server.wait()).await;
    }
    format!(
        "`oha -z {secs}s -c {concurrency} -w` on loopback, one after the other, load generator and servers sharing the \
         2 cores; both against the same upstream (100 sample posts on loopback), both caching the list for 60 s, so the \
         run measures cache hits. Both answer the same JSON for each request (checked before the run). The peer is \
         `bench/posts_peer.py` (FastAPI, redis-py with hiredis, httpx) in its best configuration we found: uvicorn \
         with uvloop and httptools, one worker per core; our local server also emulates API Gateway on every request.\n\n\
         | request | server | requests/s | p50 | p99 | requests | errors |\n|---|---|---|---|---|---|---|\n{rows}"
    )
}

#[tokio::main]
async fn main() {
    let upstream = local::sample_posts::SamplePosts::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = edge::testing::config(TestBackend::Embedded, dir.path()).await;
    config.posts_api_url = Some(upstream.url());
    let mut rows = in_process("embedded", config, 2_000).await;
    if edge::testing::moto_endpoint().is_some() {
        let mut config = edge::testing::config(TestBackend::Aws, dir.path()).await;
        config.posts_api_url = Some(upstream.url());
        rows.push_str(&in_process("moto", config, 200).await);
    }
    let load = side_by_side(&upstream.url()).await;
    let section = format!(
        "## Posts feed\n\n\
         `cargo run --release -p bench --bin posts-feed` — {}.\n\n\
         ### In-process (no HTTP)\n\n\
         | store | case | p50 | p99 |\n|---|---|---|---|\n{rows}\n\
         ### Throughput next to the system we replace\n\n{load}",
        bench::machine()
    );
    bench::write_section("posts", &section).unwrap();
}
