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
    public("POST", "/auth/validate-token", "validate-token"),
    public("GET", "/.well-known/jwks.json", "jwks"),
    public("GET", "/.well-known/openid-configuration", "jwks"),
    public("GET", "/health", "health"),
    protected("GET", "/auth/me", "auth-me"),
];

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
        "auth-me" => |s, r| Box::pin(auth_me::handle(s, r)),
        _ => return None,
    })
}
