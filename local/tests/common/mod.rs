//! Test harness: a real local server on a free loopback port with its own
//! data folder, and a client that speaks to it over HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shared::Config;

/// A password zxcvbn rates strong enough.
pub const PASSWORD: &str = "vivid tundra lantern 47";

pub struct TestServer {
    pub running: local::Running,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// Asserts a problem+json answer with this status; returns the problem.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("/problems/"))
        );
        &self.body
    }

    /// The `field`s named in a 422 answer.
    pub fn fields(&self) -> Vec<String> {
        self.problem(422);
        self.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The embedded configuration of a test in `dir`.
pub fn config(dir: &std::path::Path) -> Config {
    Config::embedded(dir)
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|c| c).await
    }

    pub async fn start_with(adjust: impl FnOnce(Config) -> Config) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, adjust).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestServer {
        let config = adjust(config(dir.path()));
        let running = local::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        TestServer {
            running,
            dir,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let response = req.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn signup(&self, email: &str) -> Value {
        let a = self
            .post(
                "/auth/signup",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.body
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Signs up and logs in; returns the access token.
    pub async fn user_token(&self, email: &str) -> String {
        self.signup(email).await;
        let a = self.login(email, PASSWORD).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    /// The locally generated signing key (for crafting hostile tokens).
    pub fn private_key_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("keys/jwt-ed25519.pem")).unwrap()
    }
}
