//! Domain types. Input is parsed into these newtypes once, at the edge; code
//! that holds an `Email` or a `NewPassword` never checks it again.

pub mod avatar;
pub mod book;
pub mod email;
pub mod input;
pub mod new_password;
pub mod profile;
pub mod signup;
pub mod task;
pub mod user;

pub use avatar::{Avatar, AvatarLinks};
pub use book::{Author, Book, BookTitle, Isbn, Order, OrderLine};
pub use email::Email;
pub use input::{ClientInfo, FieldError};
pub use new_password::NewPassword;
pub use profile::{Bio, BirthDate, PersonName, Username};
pub use signup::{NewUser, SignupRequest};
pub use task::{DueDate, Task, TaskDescription, TaskStatus, TaskTitle};
pub use user::{PublicUser, Role, SessionCutoff, User};

/// One line of text, the shape of names and titles: trimmed, 1 to `max`
/// characters, no control characters. `too_long` names the limit.
pub(crate) fn single_line(
    raw: &str,
    max: usize,
    too_long: &'static str,
) -> Result<String, &'static str> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("must not be empty");
    }
    if t.chars().count() > max {
        return Err(too_long);
    }
    if t.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(t.to_owned())
}
