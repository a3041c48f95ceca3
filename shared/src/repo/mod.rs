//! Repositories: domain records over the item-store port, written once for
//! both adapters. Each documents its item layout.

pub mod audit;
pub mod sessions;
pub mod shop;
pub mod tasks;
pub mod users;

pub use audit::AuditRepo;
pub use sessions::SessionRepo;
pub use shop::ShopRepo;
pub use tasks::TaskRepo;
pub use users::UserRepo;

/// What a repository can fail with: the store, or a record in it that no
/// longer reads as its type. Domain outcomes (a taken email, a stale
/// version, no stock) are not errors here but the `Ok` values' own enums.
/// The HTTP edge maps this once (`From<RepoError> for ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record does not (de)serialize: a bug or a hand-edited item.
    #[error("record unreadable: {0}")]
    Corrupt(String),
}

impl RepoError {
    pub(crate) fn corrupt(e: impl std::fmt::Display) -> Self {
        RepoError::Corrupt(e.to_string())
    }
}

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ports::item_store::{self, Attrs, Key, Page, StoreError};

/// A record as an item: its fields, plus the item's key.
pub fn to_item(record: &impl Serialize, key: &Key) -> Result<Attrs, RepoError> {
    let Value::Object(mut attrs) = serde_json::to_value(record).map_err(RepoError::corrupt)? else {
        return Err(RepoError::corrupt("record did not serialize to an object"));
    };
    attrs.insert(item_store::PK.into(), Value::String(key.pk.clone()));
    attrs.insert(item_store::SK.into(), Value::String(key.sk.clone()));
    Ok(attrs)
}

/// An item as a record (key and index attributes are ignored).
pub fn from_item<T: DeserializeOwned>(attrs: Attrs) -> Result<T, RepoError> {
    serde_json::from_value(Value::Object(attrs)).map_err(RepoError::corrupt)
}

/// A page of items as records, with the cursor of the next page.
pub(crate) fn from_page<T: DeserializeOwned>(
    page: Page,
) -> Result<(Vec<T>, Option<String>), RepoError> {
    let records = page
        .items
        .into_iter()
        .map(from_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, page.cursor))
}

/// Every item of a paged listing, page after page (for exports).
pub async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, RepoError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), RepoError>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let (items, next) = page(cursor).await?;
        all.extend(items);
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(all),
        }
    }
}
