//! The book shop: books in a catalog, and orders that take them from stock.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A book title: 1 to 300 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BookTitle(String);

impl BookTitle {
    pub fn parse(raw: &str) -> Result<BookTitle, &'static str> {
        super::single_line(raw, 300, "must be at most 300 characters").map(BookTitle)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An author (or authors): 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Author(String);

impl Author {
    pub fn parse(raw: &str) -> Result<Author, &'static str> {
        super::single_line(raw, 200, "must be at most 200 characters").map(Author)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISBN-10 or ISBN-13 with a valid check digit; kept as its digits
/// (hyphens and spaces dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Isbn(String);

impl Isbn {
    pub fn parse(raw: &str) -> Result<Isbn, &'static str> {
        let s: String = raw.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
        let bad = "must be an ISBN-10 or ISBN-13 with a valid check digit";
        let digit = |c: char| c.to_digit(10);
        let ok = match s.len() {
            13 => {
                let ds: Option<Vec<u32>> = s.chars().map(digit).collect();
                ds.is_some_and(|ds| {
                    ds.iter()
                        .enumerate()
                        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
                        .sum::<u32>()
                        % 10
                        == 0
                })
            }
            10 => {
                let ds: Option<Vec<u32>> = s
                    .chars()
                    .enumerate()
                    .map(|(i, c)| match c {
                        'X' | 'x' if i == 9 => Some(10),
                        c => digit(c),
                    })
                    .collect();
                ds.is_some_and(|ds| {
                    ds.iter()
                        .enumerate()
                        .map(|(i, d)| (10 - i as u32) * d)
                        .sum::<u32>()
                        % 11
                        == 0
                })
            }
            _ => false,
        };
        if ok {
            Ok(Isbn(s.to_uppercase()))
        } else {
            Err(bad)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most a price may be, in cents (10,000.00).
pub const MAX_PRICE_CENTS: i64 = 1_000_000;
/// The most copies a book may have in stock.
pub const MAX_STOCK: i64 = 1_000_000;

/// A price in cents: 0 to 1,000,000.
pub fn parse_price(cents: i64) -> Result<i64, &'static str> {
    if (0..=MAX_PRICE_CENTS).contains(&cents) {
        Ok(cents)
    } else {
        Err("must be a whole number of cents from 0 to 1000000")
    }
}

/// A book of the catalog (also what clients see).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Book {
    pub id: String,
    #[schema(value_type = String, min_length = 1, max_length = 300)]
    pub title: BookTitle,
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub author: Author,
    #[schema(value_type = Option<String>)]
    pub isbn: Option<Isbn>,
    /// The price in cents.
    pub price_cents: i64,
    /// Copies in stock; orders take from it atomically.
    pub stock: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped by catalog edits (not by orders).
    pub version: u64,
}

impl Book {
    /// A new catalog entry: a fresh (time-ordered) id, version 1.
    pub fn new(
        title: BookTitle,
        author: Author,
        isbn: Option<Isbn>,
        price_cents: i64,
        stock: i64,
    ) -> Book {
        let now = OffsetDateTime::now_utc();
        Book {
            id: uuid::Uuid::now_v7().to_string(),
            title,
            author,
            isbn,
            price_cents,
            stock,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// One line of an order, with the price paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub book_id: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// A placed order (also what clients see).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub id: String,
    pub user_id: String,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    /// `placed`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbns_need_their_check_digit() {
        assert_eq!(
            Isbn::parse("978-0-306-40615-7").unwrap().as_str(),
            "9780306406157"
        );
        assert!(Isbn::parse("978-0-306-40615-8").is_err());
        assert_eq!(Isbn::parse("0-8044-2957-x").unwrap().as_str(), "080442957X");
        assert!(Isbn::parse("0-8044-2957-5").is_err());
        assert!(Isbn::parse("12345").is_err());
    }

    #[test]
    fn prices_and_lines_are_bounded() {
        assert!(parse_price(-1).is_err());
        assert!(parse_price(MAX_PRICE_CENTS + 1).is_err());
        assert!(BookTitle::parse(&"t".repeat(301)).is_err());
        assert!(Author::parse(" ").is_err());
    }
}
