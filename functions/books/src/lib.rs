//! The book catalog:
//! - `GET /books?limit=&cursor=` (public): books in title order;
//! - `GET /books/{id}` (public);
//! - `POST /books` (admins): `title`, `author`, `price_cents` (required),
//!   `isbn`, `stock` (default 0); 201 with `Location`;
//! - `PATCH /books/{id}` (admins): `title`, `author`, `isbn` (`null`
//!   clears), `price_cents`, and `stock_delta` to add or remove copies.
//!   Stock is never set outright: a delta cannot undo a concurrent sale.
//!   `If-Match` or `version` make the edit conditional (412 / 409).

use std::sync::Arc;

use edge::ApiError;
use edge::error::Fields;
use edge::http::{
    Caller, check_if_match, created, json, json_body, paging, path_id, respond, route_key,
    with_etag,
};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::AppState;
use shared::domain::book::{MAX_STOCK, parse_price};
use shared::domain::{Author, Book, BookTitle, Isbn};
use shared::repo::shop::ShopError;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    edge::idempotency::once(state, req, serve).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    match route_key(req).as_str() {
        "GET /books" => {
            let (limit, cursor) = paging(req)?;
            let (items, next) = state.shop.books(limit, cursor).await?;
            let mut response = json(
                StatusCode::OK,
                &serde_json::json!({ "items": items, "next_cursor": next }),
            )?;
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=5"),
            );
            Ok(response)
        }
        "GET /books/{id}" => {
            let book = load(state, req).await?;
            Ok(with_etag(json(StatusCode::OK, &book)?, book.version))
        }
        "POST /books" => {
            Caller::from_request(req)?.require_admin()?;
            create(state, req).await
        }
        "PATCH /books/{id}" => {
            Caller::from_request(req)?.require_admin()?;
            patch(state, req).await
        }
        _ => Err(ApiError::NoRoute),
    }
}

async fn load(state: &AppState, req: &Request) -> Result<Book, ApiError> {
    let id = path_id(req, "id")?;
    state.shop.book(&id).await?.ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
struct NewBook {
    title: Option<String>,
    author: Option<String>,
    isbn: Option<String>,
    price_cents: Option<i64>,
    stock: Option<i64>,
}

fn stock(raw: i64) -> Result<i64, &'static str> {
    if (0..=MAX_STOCK).contains(&raw) {
        Ok(raw)
    } else {
        Err("must be a whole number from 0 to 1000000")
    }
}

fn required<T>(value: Option<T>) -> Result<T, &'static str> {
    value.ok_or("is required")
}

async fn create(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: NewBook = json_body(req)?;
    let mut f = Fields::default();
    let title = f.check(
        "title",
        required(body.title).and_then(|t| BookTitle::parse(&t)),
    );
    let author = f.check(
        "author",
        required(body.author).and_then(|a| Author::parse(&a)),
    );
    let isbn = body.isbn.and_then(|i| f.check("isbn", Isbn::parse(&i)));
    let price = f.check(
        "price_cents",
        required(body.price_cents).and_then(parse_price),
    );
    let stock = f.check("stock", stock(body.stock.unwrap_or(0)));
    let (title, author, price_cents, stock) = f.finish((title, author, price, stock))?;
    let book = Book::new(title, author, isbn, price_cents, stock);
    // The answer is made first, so that a retry's key replays what this
    // commit wrote.
    let answer = created(
        req,
        &book,
        &format!("/books/{}", book.id),
        Some(book.version),
    )?;
    let keyed = edge::idempotency::answer_writes(req, &answer);
    state.shop.create_book_with(&book, keyed).await?;
    Ok(answer)
}

#[derive(Deserialize)]
struct BookPatch {
    title: Option<String>,
    author: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    isbn: Option<Option<String>>,
    price_cents: Option<i64>,
    /// Copies to add (positive) or remove (negative).
    stock_delta: Option<i64>,
    version: Option<u64>,
}

async fn patch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let current = load(state, req).await?;
    check_if_match(req, current.version)?;
    let body: BookPatch = json_body(req)?;
    if body.version.is_some_and(|v| v != current.version) {
        return Err(ApiError::Conflict(
            "The book changed since you read it; read it again.".into(),
        ));
    }
    let mut next = current.clone();
    let mut f = Fields::default();
    f.patch("title", body.title, &mut next.title, |t| {
        BookTitle::parse(&t)
    });
    f.patch("author", body.author, &mut next.author, |a| {
        Author::parse(&a)
    });
    f.patch_nullable("isbn", body.isbn, &mut next.isbn, |i| Isbn::parse(&i));
    f.patch(
        "price_cents",
        body.price_cents,
        &mut next.price_cents,
        parse_price,
    );
    let delta = body.stock_delta.unwrap_or(0);
    if !(-MAX_STOCK..=MAX_STOCK).contains(&delta) || current.stock + delta > MAX_STOCK {
        f.push("stock_delta", "must keep the stock between 0 and 1000000");
    }
    f.finish(())?;
    if next == current && delta == 0 {
        // Nothing changed: no write, no new version.
        return Ok(with_etag(json(StatusCode::OK, &current)?, current.version));
    }
    next.updated_at = time::OffsetDateTime::now_utc();
    match state.shop.edit_book(&current, &next, delta).await? {
        Ok(saved) => Ok(with_etag(json(StatusCode::OK, &saved)?, saved.version)),
        Err(ShopError::NoSuchBook(_)) => Err(ApiError::NotFound),
        Err(ShopError::Stale) => Err(ApiError::Conflict(
            "The book changed since you read it; read it again.".into(),
        )),
        Err(ShopError::Unavailable(_)) => Err(ApiError::Conflict(
            "Not that many copies in stock to remove.".into(),
        )),
    }
}
