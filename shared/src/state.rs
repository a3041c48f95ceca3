//! Everything a handler needs, shared by every invocation: the
//! configuration, the four ports, the posts source and what is built
//! over them. Which adapters stand behind the ports is decided above the
//! core (`edge::wiring`); here is only the one place the repositories are
//! built ([`AppState::assemble`]).

use std::sync::Arc;

use crate::avatars::Avatars;
use crate::config::Config;
use crate::idempotency::IdempotencyRepo;
use crate::outbox::Outbox;
use crate::ports::{BlobStore, ItemStore, Mailer, Ports, PostsSource, Queue};
use crate::posts::PostsFeed;
use crate::profile_pdf::ProfilePdfs;
use crate::rate_limit::{AbuseLimits, LoginLimiter};
use crate::repo::{AuditRepo, SessionRepo, ShopRepo, TaskRepo, UserRepo};
use crate::tokens::TokenKeys;

#[derive(Clone)]
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn ItemStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn Queue>,
    pub mailer: Arc<dyn Mailer>,
    pub tokens: TokenKeys,
    pub users: UserRepo,
    pub sessions: SessionRepo,
    pub audit: AuditRepo,
    pub tasks: TaskRepo,
    pub shop: ShopRepo,
    pub idempotency: IdempotencyRepo,
    pub login_limiter: LoginLimiter,
    pub abuse: AbuseLimits,
    pub outbox: Outbox,
    /// The cached posts feed (this process's copy lives here), over
    /// `posts_source`.
    pub posts: PostsFeed,
    pub posts_source: Arc<dyn PostsSource>,
    pub avatars: Avatars,
    pub pdfs: ProfilePdfs,
    /// What the wiring keeps beside the ports for the process that built
    /// them, by type: the local server's embedded adapters (presigned blob
    /// URLs, the mail folder, the TTL sweeper). Empty in a function
    /// process. A typed map, so the core names no adapter.
    pub extras: http::Extensions,
}

impl AppState {
    /// The state over these ports: the one place repositories are built.
    pub fn assemble(
        config: Config,
        tokens: TokenKeys,
        ports: Ports,
        posts_source: Arc<dyn PostsSource>,
        extras: http::Extensions,
    ) -> Arc<AppState> {
        let Ports {
            store,
            blobs,
            queue,
            mailer,
        } = ports;
        Arc::new(AppState {
            users: UserRepo::new(store.clone()),
            sessions: SessionRepo::new(store.clone(), &config),
            audit: AuditRepo::new(store.clone()),
            tasks: TaskRepo::new(store.clone()),
            shop: ShopRepo::new(store.clone()),
            idempotency: IdempotencyRepo::new(store.clone(), *config.idempotency_lease),
            login_limiter: LoginLimiter::new(store.clone(), &config),
            abuse: AbuseLimits::new(store.clone(), &config),
            outbox: Outbox::new(store.clone(), queue.clone(), *config.outbox_lease),
            posts: PostsFeed::new(store.clone(), posts_source.clone(), &config),
            posts_source,
            avatars: Avatars::new(store.clone(), blobs.clone(), UserRepo::new(store.clone())),
            pdfs: ProfilePdfs::new(store.clone(), blobs.clone()),
            store,
            blobs,
            queue,
            mailer,
            tokens,
            extras,
            config,
        })
    }

    /// The four ports this state is built over.
    pub fn ports(&self) -> Ports {
        Ports {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            queue: self.queue.clone(),
            mailer: self.mailer.clone(),
        }
    }

    /// The same configuration, keys and extras over other ports (a view
    /// with fewer ports, fault wrappers, a recording mailer): repositories
    /// and caches are built anew over them.
    pub fn over(&self, ports: Ports) -> Arc<AppState> {
        Self::assemble(
            self.config.clone(),
            self.tokens.clone(),
            ports,
            self.posts_source.clone(),
            self.extras.clone(),
        )
    }

    /// The same state sending mail through `mailer` (tests record mails).
    pub fn with_mailer(&self, mailer: Arc<dyn Mailer>) -> Arc<AppState> {
        self.over(Ports {
            mailer,
            ..self.ports()
        })
    }
}
