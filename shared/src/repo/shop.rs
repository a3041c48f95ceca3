//! The book shop's records.
//!
//! | item | pk | sk | gsi1pk | gsi1sk |
//! |---|---|---|---|---|
//! | book | `BOOK#{id}` | `BOOK` | `BOOKS` | `{lowercased title}#{id}` |
//! | order | `ORDERS#{user}` | `ORDER#{id}` | | |
//! | order of a deleted account | `ORDERS#ERASED` | `ORDER#{id}` | | |
//!
//! Stock is only ever changed by adding to it under a condition (`stock ≥ n`
//! for a sale), inside the transaction that writes the order: two buyers of
//! the last copy cannot both succeed, and an order is never written without
//! its stock, nor stock taken without its order. Catalog edits change the
//! other attributes with an update conditional on `version`, never by
//! rewriting the item, so they cannot undo a concurrent sale.

use std::sync::Arc;

use serde_json::{Value, json};

use super::RepoError;
use crate::domain::{Book, Order};
use crate::ports::item_store::{
    self, Change, Condition, Index, ItemStore, Key, Query, StoreError, Write,
};

pub use crate::table_keys::ERASED_ORDERS as ERASED;
use crate::table_keys::{book as book_key, order as order_key};

fn title_sort(book: &Book) -> String {
    format!("{}#{}", book.title.as_str().to_lowercase(), book.id)
}

use super::{from_item, from_page, to_item};

/// What a catalog edit or a sale ran into.
#[derive(Debug, PartialEq, Eq)]
pub enum ShopError {
    /// A book is gone (its index in the request).
    NoSuchBook(usize),
    /// Not enough copies of a book, or its price changed meanwhile (its index).
    Unavailable(usize),
    /// The book's version is not the one the edit was based on.
    Stale,
}

/// Why an order was not placed (nothing was written).
#[derive(Debug, PartialEq, Eq)]
pub enum OrderError {
    /// A book is gone (its line's index).
    NoSuchBook(usize),
    /// Not enough copies of a book, or its price changed meanwhile (its line's index).
    Unavailable(usize),
    /// An order must have lines.
    NoLines,
    /// An order with this id is already stored.
    AlreadyPlaced,
}

#[derive(Clone)]
pub struct ShopRepo {
    store: Arc<dyn ItemStore>,
}

impl ShopRepo {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        ShopRepo { store }
    }

    pub async fn create_book(&self, book: &Book) -> Result<(), RepoError> {
        self.create_book_with(book, Vec::new()).await
    }

    /// [`Self::create_book`] with `extra` writes in the same commit (an
    /// idempotency key's answer).
    pub async fn create_book_with(&self, book: &Book, extra: Vec<Write>) -> Result<(), RepoError> {
        let mut item = to_item(book, &book_key(&book.id))?;
        item.insert(item_store::GSI1PK.into(), json!("BOOKS"));
        item.insert(item_store::GSI1SK.into(), json!(title_sort(book)));
        let put = Write::Put {
            item,
            condition: Some(Condition::NotExists),
        };
        self.store.write_with(put, extra).await?;
        Ok(())
    }

    pub async fn book(&self, id: &str) -> Result<Option<Book>, RepoError> {
        self.store
            .get(&book_key(id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// One page of the catalog in title order.
    pub async fn books(
        &self,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<Book>, Option<String>), RepoError> {
        from_page(
            self.store
                .query(Query::new(Index::Gsi1, "BOOKS").limit(limit).cursor(cursor))
                .await?,
        )
    }

    /// Applies a catalog edit of `current` (title, author, ISBN, price) and
    /// an optional stock adjustment, if the version is still `current`'s.
    /// Returns the book as stored.
    pub async fn edit_book(
        &self,
        current: &Book,
        next: &Book,
        stock_delta: i64,
    ) -> Result<Result<Book, ShopError>, RepoError> {
        // The catalog fields, as `next` stores them; never `stock`.
        let fields = to_item(next, &book_key(&next.id))?;
        let mut changes: Vec<Change> = ["title", "author", "isbn", "price_cents", "updated_at"]
            .into_iter()
            .map(|f| Change::Set(f.into(), fields.get(f).cloned().unwrap_or(Value::Null)))
            .collect();
        changes.push(Change::Set(
            item_store::GSI1SK.into(),
            json!(title_sort(next)),
        ));
        changes.push(Change::Add("version".into(), 1));
        let mut conditions = vec![Condition::Equals("version".into(), json!(current.version))];
        if stock_delta != 0 {
            changes.push(Change::Add("stock".into(), stock_delta));
            if stock_delta < 0 {
                conditions.push(Condition::AtLeast("stock".into(), -stock_delta));
            }
        }
        match self
            .store
            .update(
                book_key(&current.id),
                changes,
                Some(Condition::All(conditions)),
            )
            .await
        {
            Ok(item) => Ok(Ok(from_item(item)?)),
            Err(StoreError::ConditionFailed) => Ok(Err(match self.book(&current.id).await? {
                None => ShopError::NoSuchBook(0),
                Some(b) if b.version != current.version => ShopError::Stale,
                Some(_) => ShopError::Unavailable(0),
            })),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the order and takes its copies from stock, all or nothing.
    /// Each line's book must still have the quantity in stock at the price
    /// the order records.
    pub async fn place(&self, order: &Order) -> Result<Result<(), OrderError>, RepoError> {
        self.place_with(order, Vec::new()).await
    }

    /// [`Self::place`] with `extra` writes in the same transaction (an
    /// idempotency key's answer); when one of those fails, the error is the
    /// store's (a 409 "changed by another request").
    pub async fn place_with(
        &self,
        order: &Order,
        extra: Vec<Write>,
    ) -> Result<Result<(), OrderError>, RepoError> {
        if order.lines.is_empty() {
            return Ok(Err(OrderError::NoLines));
        }
        let mut writes: Vec<Write> = order
            .lines
            .iter()
            .map(|line| Write::Update {
                key: book_key(&line.book_id),
                changes: vec![Change::Add("stock".into(), -line.quantity)],
                condition: Some(Condition::All(vec![
                    Condition::AtLeast("stock".into(), line.quantity),
                    Condition::Equals("price_cents".into(), json!(line.unit_price_cents)),
                ])),
            })
            .collect();
        let order_write = writes.len();
        writes.push(Write::Put {
            item: to_item(order, &order_key(&order.user_id, &order.id))?,
            condition: Some(Condition::NotExists),
        });
        writes.extend(extra);
        match self.store.transact(writes).await {
            Ok(()) => Ok(Ok(())),
            Err(StoreError::TransactionCanceled { failed }) => {
                // Name the real cause: a book line's condition, the order's
                // own, or (nothing failed) a conflict that outlasted retries.
                if let Some(&i) = failed.iter().find(|&&i| i < order_write) {
                    return Ok(Err(match self.book(&order.lines[i].book_id).await? {
                        None => OrderError::NoSuchBook(i),
                        Some(_) => OrderError::Unavailable(i),
                    }));
                }
                if failed.contains(&order_write) {
                    return Ok(Err(OrderError::AlreadyPlaced));
                }
                Err(StoreError::TransactionCanceled { failed }.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn order(&self, user: &str, id: &str) -> Result<Option<Order>, RepoError> {
        self.store
            .get(&order_key(user, id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// One page of the user's orders, newest first.
    pub async fn orders(
        &self,
        user: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<Order>, Option<String>), RepoError> {
        from_page(
            self.store
                .query(
                    Query::new(Index::Primary, crate::table_keys::orders_partition(user))
                        .limit(limit)
                        .cursor(cursor)
                        .descending(),
                )
                .await?,
        )
    }

    /// Erases the user from their orders (account deletion): each order
    /// moves, in one transaction, to the `ORDERS#ERASED` partition without
    /// its user id. The sale itself stays on the books (stock plus copies
    /// sold still adds up to what was stocked); nothing names the person.
    /// Safe to repeat: a move that already happened is simply overwritten.
    pub async fn erase_orders(&self, user: &str) -> Result<(), RepoError> {
        loop {
            let page = self
                .store
                .query(
                    Query::new(Index::Primary, crate::table_keys::orders_partition(user)).limit(50),
                )
                .await?;
            if page.items.is_empty() {
                return Ok(());
            }
            for item in page.items {
                let mut order: Order = from_item(item)?;
                let from = order_key(&order.user_id, &order.id);
                order.user_id = String::new();
                let mut erased = to_item(
                    &order,
                    &Key::new(ERASED, crate::table_keys::order_sort(&order.id)),
                )?;
                erased.remove("user_id");
                self.store
                    .transact(vec![
                        Write::Put {
                            item: erased,
                            condition: None,
                        },
                        Write::Delete {
                            key: from,
                            condition: None,
                        },
                    ])
                    .await?;
            }
        }
    }
}
