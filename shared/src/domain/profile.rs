//! Profile fields shared by sign-up and profile updates.

use serde::{Deserialize, Serialize};
use time::Date;

/// A first name or surname: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<PersonName, &'static str> {
        super::single_line(raw, 100, "must be at most 100 characters").map(PersonName)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short free-text bio: trimmed, at most 500 characters, no control
/// characters other than line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bio(String);

impl Bio {
    pub fn parse(raw: &str) -> Result<Bio, &'static str> {
        let t = raw.trim();
        if t.chars().count() > 500 {
            return Err("must be at most 500 characters");
        }
        if t.chars().any(|c| c.is_control() && c != '\n') {
            return Err("must not contain control characters");
        }
        Ok(Bio(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username: 3 to 30 of `A-Z a-z 0-9 _ . -`, starting with a letter or
/// digit; unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, &'static str> {
        let t = raw.trim();
        let n = t.chars().count();
        if !(3..=30).contains(&n) {
            return Err("must be 3 to 30 characters");
        }
        if !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err("may contain only letters, digits, '_', '.' and '-'");
        }
        if !t.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or digit");
        }
        Ok(Username(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The form used for uniqueness.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A date of birth: an ISO 8601 calendar date (`YYYY-MM-DD`) in the past and
/// not before 1900.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BirthDate(#[serde(with = "iso_date")] Date);

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

impl BirthDate {
    pub fn parse(raw: &str, today: Date) -> Result<BirthDate, &'static str> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = Date::parse(raw.trim(), &format).map_err(|_| "must be a date as YYYY-MM-DD")?;
        if date >= today {
            return Err("must be in the past");
        }
        if date.year() < 1900 {
            return Err("must not be before 1900");
        }
        Ok(BirthDate(date))
    }
    pub fn date(&self) -> Date {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn usernames_follow_the_rules() {
        assert_eq!(Username::parse("Ada_99").unwrap().folded(), "ada_99");
        for bad in ["ab", "_ada", "ada lovelace", "ädä", &"a".repeat(31)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn birth_dates_must_be_real_and_past() {
        let today = date!(2026 - 11 - 24);
        assert!(BirthDate::parse("1815-12-10", today).is_err());
        assert!(BirthDate::parse("1990-02-30", today).is_err());
        assert!(BirthDate::parse("2026-11-24", today).is_err());
        assert!(BirthDate::parse("24/11/1990", today).is_err());
        assert_eq!(
            BirthDate::parse("1990-11-24", today).unwrap().date(),
            date!(1990 - 11 - 24)
        );
    }
}
