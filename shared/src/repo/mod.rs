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
