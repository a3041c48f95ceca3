//! The route table: the same routes, methods, functions and protection as
//! `template.yaml` (a test compares the two).

use std::sync::Arc;

use futures::future::BoxFuture;
use lambda_http::{Body, Request, Response};
use shared::AppState;

/// One API Gateway route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway syntax: `/users/{id}`.
    pub path: &'static str,
    /// The function (binary) that serves it.
    pub function: &'static str,
    /// Behind the Lambda authorizer.
    pub protected: bool,
}

const fn public(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
        protected: false,
    }
}

const fn protected(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
        protected: true,
    }
}

pub const ROUTES: &[Route] = &[
    public("POST", "/auth/signup", "signup"),
    public("POST", "/auth/register", "signup"),
    public("POST", "/auth/login", "login"),
    public("POST", "/auth/login/link", "login"),
    public("POST", "/auth/validate-token", "validate-token"),
    public("GET", "/.well-known/jwks.json", "jwks"),
    public("GET", "/.well-known/openid-configuration", "jwks"),
    public("GET", "/health", "health"),
    public("GET", "/openapi.json", "api-docs"),
    public("GET", "/docs", "api-docs"),
    public("GET", "/redoc", "api-docs"),
    public("GET", "/docs/redoc.standalone.js", "api-docs"),
    protected("GET", "/auth/me", "auth-me"),
    public("POST", "/auth/refresh", "refresh"),
    protected("POST", "/auth/logout", "sessions"),
    protected("POST", "/auth/logout-all", "sessions"),
    protected("GET", "/auth/sessions", "sessions"),
    protected("DELETE", "/auth/sessions/{id}", "sessions"),
    protected("POST", "/auth/password", "sessions"),
    protected("GET", "/users/me", "users-me"),
    protected("PATCH", "/users/me", "users-me"),
    protected("DELETE", "/users/me", "users-me"),
    protected("PUT", "/users/me", "users-me"),
    protected("GET", "/profile/me", "users-me"),
    protected("POST", "/users/createprofile", "users-me"),
    protected("DELETE", "/users/deleteprofile", "users-me"),
    protected("GET", "/users/me/export", "users-me"),
    protected("POST", "/users/me/pdf", "pdf-generate"),
    protected("GET", "/users/me/pdf", "pdf-generate"),
    protected("GET", "/pdf/generate", "pdf-generate"),
    protected("GET", "/admin/users", "admin"),
    protected("GET", "/admin/users/{id}", "admin"),
    protected("PATCH", "/admin/users/{id}", "admin"),
    protected("DELETE", "/admin/users/{id}", "admin"),
    protected("POST", "/admin/users/{id}/deactivate", "admin"),
    protected("POST", "/admin/users/{id}/activate", "admin"),
    protected("GET", "/admin/audit", "admin"),
    protected("POST", "/admin/events/redrive", "admin"),
    protected("GET", "/admin/events/dead-letters", "admin"),
    protected("GET", "/tasks", "tasks-crud"),
    protected("POST", "/tasks", "tasks-crud"),
    protected("GET", "/tasks/{id}", "tasks-crud"),
    protected("PATCH", "/tasks/{id}", "tasks-crud"),
    protected("DELETE", "/tasks/{id}", "tasks-crud"),
    public("GET", "/books", "books"),
    public("GET", "/books/{id}", "books"),
    protected("POST", "/books", "books"),
    protected("PATCH", "/books/{id}", "books"),
    protected("POST", "/orders", "orders"),
    protected("GET", "/orders", "orders"),
    protected("GET", "/orders/{id}", "orders"),
    public("GET", "/posts", "posts"),
    public("GET", "/posts/{id}", "posts"),
    protected("DELETE", "/admin/posts/cache", "posts"),
    protected("PUT", "/users/me/avatar", "media-upload"),
    protected("POST", "/users/me/avatar/upload-url", "media-upload"),
    protected("GET", "/users/me/avatar", "media-upload"),
    protected("DELETE", "/users/me/avatar", "media-upload"),
    protected("POST", "/media/avatar", "media-upload"),
    protected("GET", "/media/avatar", "media-upload"),
    protected("DELETE", "/media/avatar", "media-upload"),
    public("POST", "/auth/verify-email", "account-email"),
    protected("POST", "/auth/verify-email/resend", "account-email"),
    public("POST", "/auth/password-reset", "account-email"),
    public("POST", "/auth/password-reset/confirm", "account-email"),
    protected("POST", "/users/me/email", "account-email"),
    public("POST", "/auth/email-change/confirm", "account-email"),
    public("POST", "/auth/email-change/revert", "account-email"),
    public("GET", "/", "web"),
    public("GET", "/signup", "web"),
    public("GET", "/login", "web"),
    public("GET", "/forgot-password", "web"),
    public("GET", "/reset-password", "web"),
    public("GET", "/verify-email", "web"),
    public("GET", "/confirm-email", "web"),
    public("GET", "/revert-email", "web"),
    public("GET", "/sign-in", "web"),
    public("GET", "/account", "web"),
    public("GET", "/admin", "web"),
    public("GET", "/assets/app.js", "web"),
    public("GET", "/assets/app.css", "web"),
];

/// The SQS consumer the local server feeds from the embedded queue.
pub fn user_events_consumer() -> crate::consumer::ConsumerHandler {
    |s, e| Box::pin(user_events::handle(s, e))
}

/// A function's HTTP handler, as its Lambda binary runs it.
pub type Handler = fn(Arc<AppState>, Request) -> BoxFuture<'static, Response<Body>>;

/// The handler of each function binary.
pub fn handler(function: &str) -> Option<Handler> {
    Some(match function {
        "signup" => |s, r| Box::pin(signup::handle(s, r)),
        "login" => |s, r| Box::pin(login::handle(s, r)),
        "validate-token" => |s, r| Box::pin(validate_token::handle(s, r)),
        "jwks" => |s, r| Box::pin(jwks::handle(s, r)),
        "health" => |s, r| Box::pin(health::handle(s, r)),
        "api-docs" => |s, r| Box::pin(api_docs::handle(s, r)),
        "auth-me" => |s, r| Box::pin(auth_me::handle(s, r)),
        "refresh" => |s, r| Box::pin(refresh::handle(s, r)),
        "sessions" => |s, r| Box::pin(sessions::handle(s, r)),
        "users-me" => |s, r| Box::pin(users_me::handle(s, r)),
        "admin" => |s, r| Box::pin(admin::handle(s, r)),
        "tasks-crud" => |s, r| Box::pin(tasks_crud::handle(s, r)),
        "pdf-generate" => |s, r| Box::pin(pdf_generate::handle(s, r)),
        "books" => |s, r| Box::pin(books::handle(s, r)),
        "orders" => |s, r| Box::pin(orders::handle(s, r)),
        "posts" => |s, r| Box::pin(posts::handle(s, r)),
        "media-upload" => |s, r| Box::pin(media_upload::handle(s, r)),
        "account-email" => |s, r| Box::pin(account_email::handle(s, r)),
        "web" => |s, r| Box::pin(web::handle(s, r)),
        _ => return None,
    })
}
