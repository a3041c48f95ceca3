//! Repositories: domain records over the item-store port, written once for
//! both adapters. Each documents its item layout.

pub mod users;

pub use users::UserRepo;
