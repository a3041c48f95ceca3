//! `GET /auth/me` (protected): the caller as the authorizer established it,
//! which proves the protected path end to end.

use std::sync::Arc;

use edge::ApiError;
use edge::http::{Caller, allow, json, respond};
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::AppState;

pub async fn handle(_state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(me(&req))
}

fn me(req: &Request) -> Result<Response<Body>, ApiError> {
    allow(req, &[Method::GET])?;
    let caller = Caller::from_request(req)?;
    json(StatusCode::OK, &caller)
}
