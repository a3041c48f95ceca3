//! Sign-up input: the raw request and its parsing into a [`NewUser`], with
//! every field's problems reported at once.

use serde::Deserialize;
use time::OffsetDateTime;

use super::{BirthDate, Email, NewPassword, PersonName, Username};
use crate::domain::FieldError;

/// A sign-up that does not parse: every bad field, each with its message
/// (the HTTP edge answers 422 with them).
#[derive(Debug, PartialEq, Eq)]
pub struct SignupRejected(pub Vec<FieldError>);

/// The JSON body of `POST /auth/signup`. Every field is optional here so that
/// a missing field is reported as a field error (422), not a parse error.
#[derive(Debug, Default, Deserialize)]
pub struct SignupRequest {
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    pub surname: Option<String>,
    pub username: Option<String>,
    pub date_of_birth: Option<String>,
}

/// A valid sign-up.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub password: NewPassword,
    pub name: Option<PersonName>,
    pub surname: Option<PersonName>,
    pub username: Option<Username>,
    pub date_of_birth: Option<BirthDate>,
}

fn optional<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<T> {
    match raw.map(parse) {
        Some(Ok(v)) => Some(v),
        Some(Err(m)) => {
            errors.push(FieldError::new(field, m));
            None
        }
        None => None,
    }
}

impl SignupRequest {
    pub fn parse(self) -> Result<NewUser, SignupRejected> {
        let mut errors = Vec::new();
        let email = match self.email.as_deref().map(Email::parse) {
            Some(Ok(e)) => Some(e),
            Some(Err(m)) => {
                errors.push(FieldError::new("email", m));
                None
            }
            None => {
                errors.push(FieldError::new("email", "is required"));
                None
            }
        };
        let name = optional(&mut errors, "name", self.name.as_deref(), PersonName::parse);
        let surname = optional(
            &mut errors,
            "surname",
            self.surname.as_deref(),
            PersonName::parse,
        );
        let username = optional(
            &mut errors,
            "username",
            self.username.as_deref(),
            Username::parse,
        );
        let today = OffsetDateTime::now_utc().date();
        let date_of_birth = optional(
            &mut errors,
            "date_of_birth",
            self.date_of_birth.as_deref(),
            |d| BirthDate::parse(d, today),
        );
        let mut inputs: Vec<&str> = Vec::new();
        if let Some(e) = &email {
            inputs.extend([e.as_str(), e.local_part()]);
        }
        inputs.extend(name.iter().chain(surname.iter()).map(PersonName::as_str));
        inputs.extend(username.iter().map(Username::as_str));
        let password = match self.password.as_deref() {
            None => {
                errors.push(FieldError::new("password", "is required"));
                None
            }
            Some(raw) => match NewPassword::parse(raw, &inputs) {
                Ok(p) => Some(p),
                Err(m) => {
                    errors.push(FieldError::new("password", m));
                    None
                }
            },
        };
        match (email, password) {
            (Some(email), Some(password)) if errors.is_empty() => Ok(NewUser {
                email,
                password,
                name,
                surname,
                username,
                date_of_birth,
            }),
            _ => Err(SignupRejected(errors)),
        }
    }
}
