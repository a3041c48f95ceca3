//! Every key layout of the single table, in one place: what lives where
//! (DynamoDB's single-table design, the same on SQLite).
//!
//! | record | pk | sk |
//! |---|---|---|
//! | user profile | `USER#{id}` | `PROFILE` |
//! | session | `USER#{id}` | `SESSION#{session}` |
//! | pending one-time token of a purpose | `USER#{id}` | `OTT#{purpose}` |
//! | profile PDF record | `USER#{id}` | `PROFILE_PDF` |
//! | avatar upload in progress | `USER#{id}` | `AVATAR_UPLOAD` |
//! | avatar URL counter of an hour | `USER#{id}` | `AVATAR_URLS#{hour}` |
//! | event settings | `USER#{id}` | `SETTINGS` |
//! | email claim (uniqueness) | `EMAIL#{email}` | `EMAIL` |
//! | username claim (uniqueness) | `USERNAME#{folded}` | `USERNAME` |
//! | refresh token (by hash) | `REFRESH#{hash}` | `REFRESH` (gsi1: `REFRESHES#{user}`) |
//! | one-time token (by hash) | `OTT#{hash}` | `OTT` |
//! | task | `TASKS#{owner}` | `TASK#{id}` |
//! | book | `BOOK#{id}` | `BOOK` |
//! | order | `ORDERS#{user}` | `ORDER#{id}` |
//! | audit entry | `AUDIT#{user}` (or `AUDIT#ANON`, `AUDIT#TRAIL`) | time-ordered id |
//! | outbox event | `OUTBOX#{event}` | `OUTBOX` |
//! | handled user event (idempotency) | `EVENT#{event}` | `PROCESSED` |
//! | `Idempotency-Key` in use (`idempotency.rs`) | `IDEMPOTENCY#{user}` | `KEY#{sha256}` |
//!
//! Rate-limit counters (`rate_limit.rs`) and the posts cache (`posts/`) keep
//! their own partitions, documented there.

use crate::ports::item_store::Key;

/// The partition of everything that belongs to one user.
pub fn user_partition(id: &str) -> String {
    format!("USER#{id}")
}

pub fn user(id: &str) -> Key {
    Key::new(user_partition(id), "PROFILE")
}

/// The sort-key prefix of a user's sessions.
pub const SESSION_PREFIX: &str = "SESSION#";

pub fn session(user_id: &str, session_id: &str) -> Key {
    Key::new(
        user_partition(user_id),
        format!("{SESSION_PREFIX}{session_id}"),
    )
}

pub fn pending_one_time(user_id: &str, purpose: &str) -> Key {
    Key::new(user_partition(user_id), format!("OTT#{purpose}"))
}

pub fn profile_pdf(user_id: &str) -> Key {
    Key::new(user_partition(user_id), "PROFILE_PDF")
}

pub fn avatar_upload(user_id: &str) -> Key {
    Key::new(user_partition(user_id), "AVATAR_UPLOAD")
}

pub fn avatar_url_counter(user_id: &str, hour: i64) -> Key {
    Key::new(user_partition(user_id), format!("AVATAR_URLS#{hour}"))
}

pub fn event_settings(user_id: &str) -> Key {
    Key::new(user_partition(user_id), "SETTINGS")
}

pub fn email_claim(email: &str) -> Key {
    Key::new(format!("EMAIL#{email}"), "EMAIL")
}

pub fn username_claim(folded: &str) -> Key {
    Key::new(format!("USERNAME#{folded}"), "USERNAME")
}

pub fn refresh_token(hash: &str) -> Key {
    Key::new(format!("REFRESH#{hash}"), "REFRESH")
}

/// The secondary-index partition listing a user's refresh tokens.
pub fn refresh_tokens_of(user_id: &str) -> String {
    format!("REFRESHES#{user_id}")
}

pub fn one_time_token(hash: &str) -> Key {
    Key::new(format!("OTT#{hash}"), "OTT")
}

pub fn tasks_partition(owner: &str) -> String {
    format!("TASKS#{owner}")
}

pub fn task(owner: &str, id: &str) -> Key {
    Key::new(tasks_partition(owner), format!("TASK#{id}"))
}

pub fn book(id: &str) -> Key {
    Key::new(format!("BOOK#{id}"), "BOOK")
}

pub fn orders_partition(user: &str) -> String {
    format!("ORDERS#{user}")
}

/// The sort key of an order (also under [`ERASED_ORDERS`]).
pub fn order_sort(id: &str) -> String {
    format!("ORDER#{id}")
}

pub fn order(user: &str, id: &str) -> Key {
    Key::new(orders_partition(user), order_sort(id))
}

/// Where the orders of deleted accounts are kept, without their user.
pub const ERASED_ORDERS: &str = "ORDERS#ERASED";

/// An audit partition: a user's entries, or `ANON` for those of no account.
pub fn audit_partition(user_id: Option<&str>) -> String {
    format!("AUDIT#{}", user_id.unwrap_or("ANON"))
}

/// The partition of audit entries that must outlive the accounts they mention.
pub const AUDIT_TRAIL: &str = "AUDIT#TRAIL";

pub fn outbox_event(event_id: &str) -> Key {
    Key::new(format!("OUTBOX#{event_id}"), "OUTBOX")
}

/// The partition listing outbox events not yet sent.
pub const OUTBOX_UNSENT: &str = "OUTBOX#UNSENT";

pub fn processed_event(event_id: &str) -> Key {
    Key::new(format!("EVENT#{event_id}"), "PROCESSED")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layouts are data on disk and in DynamoDB: changing one strands
    /// every item written before. This pins them.
    #[test]
    fn layouts_do_not_change() {
        let k = |k: Key| format!("{} {}", k.pk, k.sk);
        assert_eq!(k(user("u")), "USER#u PROFILE");
        assert_eq!(k(session("u", "s")), "USER#u SESSION#s");
        assert_eq!(k(pending_one_time("u", "reset")), "USER#u OTT#reset");
        assert_eq!(k(profile_pdf("u")), "USER#u PROFILE_PDF");
        assert_eq!(k(avatar_upload("u")), "USER#u AVATAR_UPLOAD");
        assert_eq!(k(avatar_url_counter("u", 7)), "USER#u AVATAR_URLS#7");
        assert_eq!(k(event_settings("u")), "USER#u SETTINGS");
        assert_eq!(k(email_claim("a@b.c")), "EMAIL#a@b.c EMAIL");
        assert_eq!(k(username_claim("ada")), "USERNAME#ada USERNAME");
        assert_eq!(k(refresh_token("h")), "REFRESH#h REFRESH");
        assert_eq!(refresh_tokens_of("u"), "REFRESHES#u");
        assert_eq!(k(one_time_token("h")), "OTT#h OTT");
        assert_eq!(k(task("u", "t")), "TASKS#u TASK#t");
        assert_eq!(k(book("b")), "BOOK#b BOOK");
        assert_eq!(k(order("u", "o")), "ORDERS#u ORDER#o");
        assert_eq!(audit_partition(None), "AUDIT#ANON");
        assert_eq!(audit_partition(Some("u")), "AUDIT#u");
        assert_eq!(k(outbox_event("e")), "OUTBOX#e OUTBOX");
        assert_eq!(k(processed_event("e")), "EVENT#e PROCESSED");
    }
}
