//! Domain types. Input is parsed into these newtypes once, at the edge; code
//! that holds an `Email` or a `NewPassword` never checks it again.

pub mod book;
pub mod email;
pub mod new_password;
pub mod profile;
pub mod signup;
pub mod task;
pub mod user;

pub use book::{Author, Book, BookTitle, Isbn, Order, OrderLine};
pub use email::Email;
pub use new_password::NewPassword;
pub use profile::{Bio, BirthDate, PersonName, Username};
pub use signup::{NewUser, SignupRequest};
pub use task::{DueDate, Task, TaskDescription, TaskStatus, TaskTitle};
pub use user::{PublicUser, Role, User};
