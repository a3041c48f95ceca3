//! The outbound HTTP adapters: the posts source (`shared::ports::PostsSource`),
//! one GET of the external posts API, bounded in time and size.
//!
//! The client is hyper over rustls with aws-lc-rs and the system's root
//! certificates: the TLS stack and crypto provider the AWS SDK already
//! links, so the function carries no second one. It is built on the first
//! fetch, not at cold start (loading root certificates costs milliseconds
//! that a warm cache never needs).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use shared::config::{Config, DEFAULT_POSTS_API_URL};
use shared::ports::posts_source::{MAX_UPSTREAM_BYTES, PostsSource, UpstreamError};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Fetches the posts list from one URL.
#[derive(Clone)]
pub struct HttpsPosts {
    url: String,
    timeout: Duration,
    client: Arc<OnceLock<Result<HttpsClient, String>>>,
}

impl HttpsPosts {
    pub fn new(url: impl Into<String>, timeout: Duration) -> Self {
        Self {
            url: url.into(),
            timeout,
            client: Arc::default(),
        }
    }

    /// The source a configuration names (`POSTS_API_URL`, or
    /// JSONPlaceholder; `POSTS_UPSTREAM_TIMEOUT_MS`).
    pub fn from_config(config: &Config) -> Self {
        let url = config
            .posts_api_url
            .clone()
            .unwrap_or_else(|| DEFAULT_POSTS_API_URL.to_owned());
        Self::new(url, *config.posts_upstream_timeout)
    }
}

#[async_trait]
impl PostsSource for HttpsPosts {
    fn url(&self) -> &str {
        &self.url
    }

    /// One GET of the list, within the timeout (connect + headers + body).
    async fn fetch(&self) -> Result<Bytes, UpstreamError> {
        let client = self
            .client
            .get_or_init(|| build_client(self.timeout))
            .as_ref()
            .map_err(|e| UpstreamError::Unavailable(format!("TLS setup: {e}")))?;
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|e| UpstreamError::Unavailable(format!("POSTS_API_URL is not a URL: {e}")))?;
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "user-platform-posts/1")
            .body(Empty::new())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let bytes = tokio::time::timeout(self.timeout, async {
            let response = client
                .request(request)
                .await
                .map_err(|e| UpstreamError::Unavailable(format!("request failed: {e}")))?;
            let status = response.status();
            if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
                return Err(UpstreamError::Unavailable(format!("status {status}")));
            }
            if !status.is_success() {
                return Err(UpstreamError::Malformed(format!("status {status}")));
            }
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > MAX_UPSTREAM_BYTES) {
                return Err(too_large());
            }
            Limited::new(response.into_body(), MAX_UPSTREAM_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        too_large()
                    } else {
                        UpstreamError::Unavailable(format!("reading the body: {e}"))
                    }
                })
        })
        .await
        .map_err(|_| {
            UpstreamError::Unavailable(format!("no answer within {:?}", self.timeout))
        })??;
        Ok(bytes)
    }
}

fn too_large() -> UpstreamError {
    UpstreamError::Malformed(format!("answer larger than {MAX_UPSTREAM_BYTES} bytes"))
}

fn build_client(timeout: Duration) -> Result<HttpsClient, String> {
    use hyper_rustls::ConfigBuilderExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_native_roots()
        .map_err(|e| e.to_string())?
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTPS connector is wired (rustls over aws-lc-rs, system roots):
    /// a server that does not speak TLS fails the handshake, answered as
    /// unavailable, never a panic or a plain-HTTP request.
    #[tokio::test]
    async fn https_urls_go_through_tls() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\n\r\n[]").await;
        });
        let upstream = HttpsPosts::new(
            format!("https://127.0.0.1:{port}/posts"),
            Duration::from_secs(2),
        );
        match upstream.fetch().await {
            Err(UpstreamError::Unavailable(why)) => {
                assert!(why.contains("request failed"), "{why}")
            }
            other => panic!("expected a TLS failure, got {other:?}"),
        }
        server.abort();
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let upstream = HttpsPosts::new(
            format!("http://127.0.0.1:{port}/posts"),
            Duration::from_secs(2),
        );
        assert!(matches!(
            upstream.fetch().await,
            Err(UpstreamError::Unavailable(_))
        ));
    }
}
