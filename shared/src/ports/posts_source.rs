//! The posts source port: the external posts API the feed caches
//! (JSONPlaceholder's shape). One adapter, HTTPS (`adapters-http`), for
//! both backends; the local server points it at its own sample upstream.

use async_trait::async_trait;
use bytes::Bytes;

/// The largest answer read (JSONPlaceholder's 100 posts are ~27 KB).
pub const MAX_UPSTREAM_BYTES: usize = 4 * 1024 * 1024;

/// Why a fetch gave no posts. Both keep a stale snapshot in service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Unreachable, too slow, or answering 5xx/429: try again later (503).
    #[error("posts upstream unavailable: {0}")]
    Unavailable(String),
    /// It answered, but not with posts we can use (502).
    #[error("posts upstream answered badly: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait PostsSource: Send + Sync {
    /// Where it reads from (for logs).
    fn url(&self) -> &str;

    /// One GET of the list, bounded in time and to [`MAX_UPSTREAM_BYTES`]:
    /// the body as it came. The feed checks its shape
    /// (`posts::parse_posts`).
    async fn fetch(&self) -> Result<Bytes, UpstreamError>;
}
