//! The built-in posts upstream: when `POSTS_API_URL` is not set, the local
//! server serves 100 sample posts in JSONPlaceholder's shape on loopback
//! and points the feed at them, so the feed works offline.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

/// A running sample upstream; stops when dropped.
pub struct SamplePosts {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SamplePosts {
    /// Serves `GET /posts` on a free loopback port.
    pub async fn start() -> std::io::Result<SamplePosts> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let body = posts().to_string();
        let app = Router::new().route(
            "/posts",
            get(move || {
                let body = body.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(SamplePosts { addr, server })
    }

    /// The URL to set as `POSTS_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}/posts", self.addr)
    }
}

impl Drop for SamplePosts {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const WORDS: &[&str] = &[
    "lambda", "cache", "ledger", "harbour", "quiet", "orbit", "copper", "meadow", "signal",
    "lantern", "tundra", "vivid", "river", "granite", "echo", "summit", "willow", "ember", "prism",
    "atlas", "cobalt", "fable", "glacier", "nimbus",
];

/// 100 posts, 10 per user, as JSONPlaceholder has them; a few titles are
/// not ASCII so that case-insensitive search has something to fold.
pub fn posts() -> Value {
    let special = [
        (7, "Die Straße am Fluss"),
        (23, "ΣΊΣΥΦΟΣ and the boulder"),
        (42, "Ünïcödé everywhere"),
    ];
    let word = |n: usize| WORDS[n % WORDS.len()];
    let list: Vec<Value> = (1..=100usize)
        .map(|id| {
            let title = special
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, t)| (*t).to_owned())
                .unwrap_or_else(|| {
                    format!("{} {} {}", word(id), word(id * 7 + 3), word(id * 13 + 5))
                });
            let body = (0..4)
                .map(|line| {
                    (0..8)
                        .map(|w| word(id * 31 + line * 11 + w * 5))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n");
            json!({ "userId": (id - 1) / 10 + 1, "id": id, "title": title, "body": body })
        })
        .collect();
    Value::Array(list)
}
