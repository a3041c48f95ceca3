//! Orders from the book shop (protected; each user sees only their own):
//! - `POST /orders` with `{items: [{book_id, quantity}]}`: takes the copies
//!   from stock and writes the order in one transaction, at the prices read
//!   (a price change in between fails the order rather than charging a price
//!   the buyer did not see). Out of stock is a 409 naming the book; nothing
//!   is written. 201 with `Location`;
//! - `GET /orders?limit=&cursor=`: the caller's orders, newest first;
//! - `GET /orders/{id}`.

use std::collections::HashSet;
use std::sync::Arc;

use edge::ApiError;
use edge::error::Fields;
use edge::http::{Caller, created, json, json_body, paging, path_id, respond, route_key};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::AppState;
use shared::domain::{Order, OrderLine};
use shared::repo::shop::OrderError;

/// At most this many lines per order, and copies per line.
pub const MAX_LINES: usize = 20;
pub const MAX_QUANTITY: i64 = 100;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    edge::idempotency::once(state, req, serve).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req)?;
    match route_key(req).as_str() {
        "POST /orders" => place(state, req, &caller.user_id).await,
        "GET /orders" => {
            let (limit, cursor) = paging(req)?;
            let (items, next) = state.shop.orders(&caller.user_id, limit, cursor).await?;
            json(
                StatusCode::OK,
                &serde_json::json!({ "items": items, "next_cursor": next }),
            )
        }
        "GET /orders/{id}" => {
            let id = path_id(req, "id")?;
            let order = state
                .shop
                .order(&caller.user_id, &id)
                .await?
                .ok_or(ApiError::NotFound)?;
            json(StatusCode::OK, &order)
        }
        _ => Err(ApiError::NoRoute),
    }
}

#[derive(Deserialize)]
struct NewOrder {
    items: Option<Vec<NewLine>>,
}

#[derive(Deserialize)]
struct NewLine {
    book_id: String,
    quantity: i64,
}

async fn place(state: &AppState, req: &Request, user: &str) -> Result<Response<Body>, ApiError> {
    let body: NewOrder = json_body(req)?;
    let mut f = Fields::default();
    let items = body.items.unwrap_or_default();
    if items.is_empty() || items.len() > MAX_LINES {
        f.push("items", "must hold 1 to 20 lines");
    }
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    for (i, line) in items.iter().enumerate() {
        match uuid::Uuid::parse_str(&line.book_id) {
            Ok(id) => {
                let id = id.hyphenated().to_string();
                if !seen.insert(id.clone()) {
                    f.push(
                        &format!("items[{i}].book_id"),
                        "appears twice; add up the quantity",
                    );
                }
                wanted.push((id, line.quantity));
            }
            Err(_) => f.push(&format!("items[{i}].book_id"), "is not a book id"),
        }
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            f.push(&format!("items[{i}].quantity"), "must be from 1 to 100");
        }
    }
    f.finish(())?;
    let mut lines = Vec::with_capacity(wanted.len());
    for (i, (id, quantity)) in wanted.into_iter().enumerate() {
        let Some(book) = state.shop.book(&id).await? else {
            return Err(ApiError::field(
                &format!("items[{i}].book_id"),
                "no such book",
            ));
        };
        lines.push(OrderLine {
            book_id: id,
            title: book.title.as_str().to_owned(),
            quantity,
            unit_price_cents: book.price_cents,
        });
    }
    let order = Order {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.to_owned(),
        total_cents: lines.iter().map(|l| l.quantity * l.unit_price_cents).sum(),
        lines,
        status: "placed".into(),
        created_at: time::OffsetDateTime::now_utc(),
    };
    // The answer is made first, so that a retry's key replays what this
    // transaction wrote.
    let answer = created(req, &order, &format!("/orders/{}", order.id), None)?;
    let keyed = edge::idempotency::answer_writes(req, &answer);
    match state.shop.place_with(&order, keyed).await? {
        Ok(()) => Ok(answer),
        Err(OrderError::NoSuchBook(i)) => Err(ApiError::field(
            &format!("items[{i}].book_id"),
            "no such book",
        )),
        Err(OrderError::Unavailable(i)) => Err(ApiError::Conflict(format!(
            "Not enough copies of \"{}\" in stock, or its price just changed; nothing was ordered.",
            order.lines.get(i).map_or("a book", |l| l.title.as_str())
        ))),
        Err(OrderError::NoLines) => Err(ApiError::field("items", "must hold 1 to 20 lines")),
        Err(OrderError::AlreadyPlaced) => {
            Err(ApiError::Conflict("This order was already placed.".into()))
        }
    }
}
