//! The posts feed: an external posts API behind a cache that every Lambda
//! process shares through the item store (no Redis).
//!
//! How a request is served, cheapest first:
//! 1. this process's copy, while fresh (`HIT`);
//! 2. the snapshot in the store, while fresh (`HIT`; kept in memory too);
//! 3. otherwise one process refreshes: it takes the **refresh lease** (a
//!    conditional put that succeeds only when no live lease exists; the
//!    lease's TTL makes an abandoned one lapse), fetches, writes the new
//!    snapshot and answers `MISS`. Everyone else answers from the stale
//!    snapshot (`STALE`), or, with nothing cached, waits briefly for the
//!    winner's snapshot to appear;
//! 4. an upstream failure keeps the last good snapshot in service
//!    (stale-if-error, `STALE`) until its hard expiry. The failed lease is
//!    kept until it lapses, so a down upstream is asked at most once per
//!    lease period, and waiters learn of the failure at once.
//!
//! Store layout (one partition for the snapshot, one item for the lease):
//! - `POSTS#CACHE / SNAPSHOT`: `generation`, `etag`, `fetched_at_ms`,
//!   `fresh_until_ms`, `chunks`, `expires_at` (hard expiry, the TTL);
//! - `POSTS#CACHE / CHUNK#{generation}#{n}`: `data`, a slice of the
//!   snapshot's JSON of at most [`CHUNK_BYTES`] (DynamoDB items hold 400 KB);
//! - `POSTS#LEASE / LEASE`: `holder`, `expires_at`, and `failed` once the
//!   holder's fetch failed.
//!
//! Chunks are written before the `SNAPSHOT` item that names their
//! generation, and the previous generation's chunks are deleted only after
//! the new `SNAPSHOT` is committed; a reader that meets a half-deleted
//! generation reads again.

pub mod upstream;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::ports::item_store::{self, Attrs, Condition, ItemStore, Key, Query, SortKey};
use crate::ports::{Index, PostsSource, StoreError};
pub use upstream::{Post, UpstreamError, parse_posts};

const CACHE_PK: &str = "POSTS#CACHE";
const SNAPSHOT_SK: &str = "SNAPSHOT";
const LEASE_PK: &str = "POSTS#LEASE";
const LEASE_SK: &str = "LEASE";
/// The largest slice of snapshot JSON one item holds (DynamoDB's item
/// limit is 400 KB, names and key included).
pub const CHUNK_BYTES: usize = 300_000;
/// How often a request with nothing to serve looks for the winner's snapshot.
const POLL: Duration = Duration::from_millis(50);

/// How an answer was served (the `X-Cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// From a fresh cached snapshot (this process's or the store's).
    Hit,
    /// This request fetched the upstream.
    Miss,
    /// From a snapshot past its freshness: the upstream failed, or another
    /// process is refreshing it.
    Stale,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
        }
    }
}

/// Why nothing could be served.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Nothing cached, and another process's refresh did not finish in time.
    #[error("another refresh is still running")]
    Busy,
}

/// One fetched list of posts, prepared for search.
#[derive(Debug)]
pub struct Snapshot {
    pub generation: String,
    /// A strong validator of the upstream's content (same posts, same tag).
    pub etag: String,
    pub fetched_at_ms: i64,
    pub fresh_until_ms: i64,
    pub posts: Vec<Post>,
    /// Each post's title and body, Unicode case-folded: made by the first
    /// search, so reads without one never pay for it.
    folded: OnceLock<Vec<(String, String)>>,
}

/// One page of a (possibly searched) listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostsPage<'a> {
    pub items: Vec<&'a Post>,
    pub page: u64,
    pub per_page: u64,
    /// Posts matching the search (all posts without one).
    pub total: u64,
    /// Pages of `per_page` posts (0 when nothing matches).
    pub pages: u64,
}

impl Snapshot {
    fn new(
        posts: Vec<Post>,
        etag: String,
        generation: String,
        fetched_at_ms: i64,
        fresh_until_ms: i64,
    ) -> Self {
        Snapshot {
            generation,
            etag,
            fetched_at_ms,
            fresh_until_ms,
            posts,
            folded: OnceLock::new(),
        }
    }

    /// Whole seconds since the upstream was fetched (the `Age` header).
    pub fn age_secs(&self) -> i64 {
        (now_ms() - self.fetched_at_ms).max(0) / 1000
    }

    /// Whole seconds of freshness left (`Cache-Control: max-age`).
    pub fn fresh_secs_left(&self) -> i64 {
        (self.fresh_until_ms - now_ms()).max(0) / 1000
    }

    fn folded(&self) -> &[(String, String)] {
        self.folded.get_or_init(|| {
            self.posts
                .iter()
                .map(|p| {
                    (
                        caseless::default_case_fold_str(&p.title),
                        caseless::default_case_fold_str(&p.body),
                    )
                })
                .collect()
        })
    }

    pub fn is_fresh(&self, now_ms: i64) -> bool {
        now_ms < self.fresh_until_ms
    }

    /// One post by id.
    pub fn get(&self, id: u64) -> Option<&Post> {
        self.posts.iter().find(|p| p.id == id)
    }

    /// Page `page` (from 1) of `per_page` posts whose title or body contains
    /// `search` ignoring case (Unicode full case folding: "STRASSE" finds
    /// "Straße"). A page past the end has no items but the totals.
    pub fn page(&self, page: u64, per_page: u64, search: Option<&str>) -> PostsPage<'_> {
        let needle = search
            .filter(|s| !s.is_empty())
            .map(caseless::default_case_fold_str);
        let matching: Vec<&Post> = match &needle {
            None => self.posts.iter().collect(),
            Some(n) => self
                .posts
                .iter()
                .zip(self.folded())
                .filter(|(_, (title, body))| {
                    title.contains(n.as_str()) || body.contains(n.as_str())
                })
                .map(|(p, _)| p)
                .collect(),
        };
        let total = matching.len() as u64;
        let skip = page.saturating_sub(1).saturating_mul(per_page);
        let items = matching
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(per_page as usize)
            .collect();
        PostsPage {
            items,
            page,
            per_page,
            total,
            pages: total.div_ceil(per_page),
        }
    }
}

/// A snapshot and how it was served.
#[derive(Debug, Clone)]
pub struct Served {
    pub snapshot: Arc<Snapshot>,
    pub status: CacheStatus,
}

/// The feed, one per process (it holds this process's copy).
#[derive(Clone)]
pub struct PostsFeed {
    store: Arc<dyn ItemStore>,
    upstream: Arc<dyn PostsSource>,
    fresh_for: Duration,
    max_stale: Duration,
    lease_for: Duration,
    memory: Arc<Mutex<Option<Arc<Snapshot>>>>,
    /// One refresh at a time within this process (the lease does it across
    /// processes); waiters then find the new copy in memory.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl PostsFeed {
    pub fn new(store: Arc<dyn ItemStore>, upstream: Arc<dyn PostsSource>, config: &Config) -> Self {
        let timeout = *config.posts_upstream_timeout;
        PostsFeed {
            store,
            upstream,
            fresh_for: *config.posts_fresh,
            max_stale: *config.posts_max_stale,
            // Longer than a fetch can take, so two refreshes never overlap;
            // whole seconds because the TTL attribute is in seconds.
            lease_for: Duration::from_secs(timeout.as_secs() + 2),
            memory: Arc::default(),
            refreshing: Arc::default(),
        }
    }

    /// How long a refresh lease lasts: also how long a failed upstream is
    /// left alone, so it is the `Retry-After` of a 503.
    pub fn lease_for(&self) -> Duration {
        self.lease_for
    }

    /// The snapshot to answer from, refreshing it when due.
    pub async fn current(&self) -> Result<Served, FeedError> {
        if let Some(s) = self.fresh_in_memory() {
            return Ok(Served {
                snapshot: s,
                status: CacheStatus::Hit,
            });
        }
        let stored = match self.read_stored().await {
            Ok(s) => s,
            // The store is down: this process's copy, stale as it may be,
            // beats a 503.
            Err(e) => match self.any_in_memory() {
                Some(s) => {
                    tracing::warn!(error = %e, "posts: store unavailable; serving this process's copy");
                    return Ok(Served {
                        snapshot: s,
                        status: CacheStatus::Stale,
                    });
                }
                None => return Err(e.into()),
            },
        };
        if let Some(s) = &stored
            && s.is_fresh(now_ms())
        {
            self.remember(s.clone());
            return Ok(Served {
                snapshot: s.clone(),
                status: CacheStatus::Hit,
            });
        }
        self.refresh(stored).await
    }

    /// Drops the cached snapshot (and a lease in force), everywhere but in
    /// other processes' memory, which lapses at their copy's freshness.
    pub async fn drop_cache(&self) -> Result<(), StoreError> {
        *self.memory.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.store
            .delete_all(Query::new(Index::Primary, CACHE_PK))
            .await?;
        self.store
            .delete(Key::new(LEASE_PK, LEASE_SK), None)
            .await
            .map(|_| ())
    }

    fn fresh_in_memory(&self) -> Option<Arc<Snapshot>> {
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.as_ref().filter(|s| s.is_fresh(now_ms())).cloned()
    }

    /// This process's copy if it is still within its hard expiry.
    fn any_in_memory(&self) -> Option<Arc<Snapshot>> {
        let limit = self.max_stale.as_millis() as i64;
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory
            .as_ref()
            .filter(|s| now_ms() < s.fetched_at_ms + limit)
            .cloned()
    }

    fn remember(&self, snapshot: Arc<Snapshot>) {
        *self.memory.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
    }

    async fn refresh(&self, stored: Option<Arc<Snapshot>>) -> Result<Served, FeedError> {
        let stale = |s: Arc<Snapshot>| Served {
            snapshot: s,
            status: CacheStatus::Stale,
        };
        // Within this process: with a stale copy, never queue behind a
        // refresh already running; with none, wait for it.
        let _guard = match &stored {
            Some(s) => match self.refreshing.try_lock() {
                Ok(g) => g,
                Err(_) => return Ok(stale(s.clone())),
            },
            None => tokio::time::timeout(self.wait_limit(), self.refreshing.lock())
                .await
                .map_err(|_| FeedError::Busy)?,
        };
        if let Some(s) = self.fresh_in_memory() {
            return Ok(Served {
                snapshot: s,
                status: CacheStatus::Hit,
            });
        }
        let Some(holder) = self.take_lease().await? else {
            return match stored {
                Some(s) => Ok(stale(s)),
                None => self.wait_for_winner().await,
            };
        };
        // Another process may have refreshed between our read and our
        // lease: look once more before asking the upstream.
        let stored = match self.read_stored().await {
            Ok(Some(s)) if s.is_fresh(now_ms()) => {
                self.release_lease(&holder).await;
                self.remember(s.clone());
                return Ok(Served {
                    snapshot: s,
                    status: CacheStatus::Hit,
                });
            }
            Ok(latest) => latest,
            Err(_) => stored,
        };
        match self
            .upstream
            .fetch()
            .await
            .and_then(|body| parse_posts(&body))
        {
            Ok(posts) => {
                let snapshot = Arc::new(self.snapshot_of(posts));
                // The answer is good whether or not it could be shared.
                if let Err(e) = self
                    .write_snapshot(&snapshot, stored.as_deref().map(|s| s.generation.as_str()))
                    .await
                {
                    tracing::warn!(error = %e, "posts: could not store the new snapshot");
                }
                self.release_lease(&holder).await;
                self.remember(snapshot.clone());
                Ok(Served {
                    snapshot,
                    status: CacheStatus::Miss,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, url = self.upstream.url(), "posts: upstream fetch failed");
                self.mark_lease_failed(&holder, &e).await;
                match stored {
                    Some(s) => Ok(stale(s)),
                    None => Err(e.into()),
                }
            }
        }
    }

    fn wait_limit(&self) -> Duration {
        self.lease_for + Duration::from_secs(1)
    }

    fn snapshot_of(&self, posts: Vec<Post>) -> Snapshot {
        let bytes = serde_json::to_vec(&posts).unwrap_or_default();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let etag = hex::encode(&digest.as_ref()[..16]);
        let fetched_at_ms = now_ms();
        Snapshot::new(
            posts,
            etag,
            uuid::Uuid::now_v7().to_string(),
            fetched_at_ms,
            fetched_at_ms + self.fresh_for.as_millis() as i64,
        )
    }

    /// Nothing cached and another process holds the lease: look for its
    /// snapshot until it appears, its fetch is known to have failed, or the
    /// lease is gone without one.
    async fn wait_for_winner(&self) -> Result<Served, FeedError> {
        let deadline = tokio::time::Instant::now() + self.wait_limit();
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            // The lease first, then the snapshot: the winner stores its
            // snapshot before it releases the lease, so "no lease" read
            // before "no snapshot" means there is truly none coming. (Read
            // the other way round, a winner finishing between the two reads
            // would look like a lease abandoned without a snapshot.)
            let lease = self.store.get(&Key::new(LEASE_PK, LEASE_SK)).await?;
            if let Some(s) = self.read_stored().await? {
                self.remember(s.clone());
                return Ok(Served {
                    snapshot: s,
                    status: CacheStatus::Hit,
                });
            }
            match lease
                .as_ref()
                .and_then(|l| l.get("failed"))
                .and_then(Value::as_str)
            {
                Some("malformed") => {
                    return Err(
                        UpstreamError::Malformed("reported by another process".into()).into(),
                    );
                }
                Some(_) => {
                    return Err(
                        UpstreamError::Unavailable("reported by another process".into()).into(),
                    );
                }
                None if lease.is_none() => return Err(FeedError::Busy),
                None => {}
            }
        }
        Err(FeedError::Busy)
    }

    /// The lease's holder id, or `None` when another holds a live lease.
    async fn take_lease(&self) -> Result<Option<String>, StoreError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let expires = (now_ms() + 999) / 1000 + self.lease_for.as_secs() as i64;
        let item = attrs(json!({
            "pk": LEASE_PK, "sk": LEASE_SK, "holder": holder, "expires_at": expires,
        }));
        match self.store.put(item, Some(Condition::NotExists)).await {
            Ok(()) => Ok(Some(holder)),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn release_lease(&self, holder: &str) {
        let mine = Condition::Equals("holder".into(), Value::from(holder));
        match self
            .store
            .delete(Key::new(LEASE_PK, LEASE_SK), Some(mine))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => {}
            // It lapses by itself; the next refresh just waits for that.
            Err(e) => tracing::warn!(error = %e, "posts: could not release the refresh lease"),
        }
    }

    async fn mark_lease_failed(&self, holder: &str, error: &UpstreamError) {
        let kind = match error {
            UpstreamError::Malformed(_) => "malformed",
            UpstreamError::Unavailable(_) => "unavailable",
        };
        let result = self
            .store
            .update(
                Key::new(LEASE_PK, LEASE_SK),
                vec![item_store::Change::Set("failed".into(), Value::from(kind))],
                Some(Condition::Equals("holder".into(), Value::from(holder))),
            )
            .await;
        if let Err(e) = result
            && e != StoreError::ConditionFailed
        {
            tracing::warn!(error = %e, "posts: could not mark the refresh lease as failed");
        }
    }

    /// The stored snapshot, whether fresh or stale (`None` when absent or
    /// past its hard expiry).
    async fn read_stored(&self) -> Result<Option<Arc<Snapshot>>, StoreError> {
        // A generation switch between our reads of a multi-page snapshot
        // can leave it incomplete: read again.
        for _ in 0..3 {
            let page = self
                .store
                .query(Query::new(Index::Primary, CACHE_PK).limit(1000))
                .await?;
            let mut items = page.items;
            let Some(meta_at) = items
                .iter()
                .position(|i| i.get(item_store::SK).and_then(Value::as_str) == Some(SNAPSHOT_SK))
            else {
                return Ok(None);
            };
            let meta = items.swap_remove(meta_at);
            match self.assemble(&meta, &items) {
                Some(snapshot) => return Ok(Some(Arc::new(snapshot))),
                None => continue,
            }
        }
        Ok(None)
    }

    /// The snapshot `meta` names, from its chunks (`None` when some are missing).
    fn assemble(&self, meta: &Attrs, items: &[Attrs]) -> Option<Snapshot> {
        let generation = meta.get("generation")?.as_str()?;
        let chunks = meta.get("chunks")?.as_u64()? as usize;
        let prefix = format!("CHUNK#{generation}#");
        let mut parts: Vec<(&str, &str)> = items
            .iter()
            .filter_map(|i| {
                let sk = i.get(item_store::SK)?.as_str()?;
                let data = i.get("data")?.as_str()?;
                sk.starts_with(&prefix).then_some((sk, data))
            })
            .collect();
        if parts.len() != chunks {
            return None;
        }
        parts.sort_unstable_by_key(|(sk, _)| *sk);
        let json: String = parts.into_iter().map(|(_, d)| d).collect();
        let posts: Vec<Post> = match serde_json::from_str(&json) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "posts: a stored snapshot does not parse; ignoring it");
                return None;
            }
        };
        Some(Snapshot::new(
            posts,
            meta.get("etag")?.as_str()?.to_owned(),
            generation.to_owned(),
            meta.get("fetched_at_ms")?.as_i64()?,
            meta.get("fresh_until_ms")?.as_i64()?,
        ))
    }

    /// Stores `snapshot` in place of the generation `replacing` (or where
    /// there is none). Loses quietly to a concurrent replacement or an
    /// admin's drop: then its own chunks go and the store keeps theirs.
    async fn write_snapshot(
        &self,
        snapshot: &Snapshot,
        replacing: Option<&str>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(&snapshot.posts)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let expires_at = snapshot.fetched_at_ms / 1000 + self.max_stale.as_secs() as i64;
        let chunks = split_at_char_boundaries(&json, CHUNK_BYTES);
        for (n, data) in chunks.iter().enumerate() {
            let item = attrs(json!({
                "pk": CACHE_PK,
                "sk": format!("CHUNK#{}#{n:04}", snapshot.generation),
                "data": data,
                "expires_at": expires_at,
            }));
            self.store.put(item, None).await?;
        }
        let meta = attrs(json!({
            "pk": CACHE_PK,
            "sk": SNAPSHOT_SK,
            "generation": snapshot.generation,
            "etag": snapshot.etag,
            "fetched_at_ms": snapshot.fetched_at_ms,
            "fresh_until_ms": snapshot.fresh_until_ms,
            "chunks": chunks.len(),
            "expires_at": expires_at,
        }));
        let condition = match replacing {
            Some(g) => Condition::Equals("generation".into(), Value::from(g)),
            None => Condition::NotExists,
        };
        let outcome = self.store.put(meta, Some(condition)).await;
        // Whichever generation is not the stored one goes.
        let superseded = match &outcome {
            Ok(()) => replacing,
            Err(_) => Some(snapshot.generation.as_str()),
        };
        if let Some(g) = superseded {
            let chunks =
                Query::new(Index::Primary, CACHE_PK).sk(SortKey::BeginsWith(format!("CHUNK#{g}#")));
            if let Err(e) = self.store.delete_all(chunks).await {
                // They expire with the TTL in any case.
                tracing::warn!(error = %e, "posts: could not delete superseded chunks");
            }
        }
        match outcome {
            Err(StoreError::ConditionFailed) => Ok(()),
            other => other,
        }
    }
}

fn attrs(v: Value) -> Attrs {
    match v {
        Value::Object(m) => m,
        _ => Attrs::new(),
    }
}

/// Splits `s` into pieces of at most `max` bytes, never inside a character.
fn split_at_char_boundaries(s: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    if pieces.is_empty() {
        pieces.push("");
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: u64, title: &str, body: &str) -> Post {
        Post {
            id,
            user_id: 1,
            title: title.into(),
            body: body.into(),
        }
    }

    #[test]
    fn chunks_never_split_a_character_and_join_back() {
        let s = "aé€😀".repeat(1000);
        let pieces = split_at_char_boundaries(&s, 7);
        assert!(pieces.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(pieces.concat(), s);
        assert_eq!(split_at_char_boundaries("", 7), vec![""]);
    }

    #[test]
    fn search_folds_case_and_pages_count_matches() {
        let s = Snapshot::new(
            vec![
                post(1, "Die Straße", "x"),
                post(2, "other", "ΣΊΣΥΦΟΣ rolls"),
                post(3, "nothing", "here"),
            ],
            "e".into(),
            "g".into(),
            0,
            1000,
        );
        let ids = |p: PostsPage| p.items.iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(s.page(1, 10, Some("STRASSE"))), [1]);
        assert_eq!(ids(s.page(1, 10, Some("σίσυφος"))), [2]);
        let all = s.page(2, 2, None);
        assert_eq!((all.total, all.pages), (3, 2));
        assert_eq!(ids(all), [3]);
        let past = s.page(9, 2, None);
        assert_eq!((past.items.len(), past.total, past.pages), (0, 3, 2));
        let none = s.page(1, 5, Some("zzz"));
        assert_eq!((none.total, none.pages), (0, 0));
        assert_eq!(s.get(2).map(|p| p.id), Some(2));
        assert!(s.get(4).is_none());
    }
}
