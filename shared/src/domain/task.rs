//! Tasks: a user's own to-do items.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// A task title: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<TaskTitle, &'static str> {
        super::single_line(raw, 200, "must be at most 200 characters").map(TaskTitle)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: trimmed, at most 5,000 characters; line breaks and
/// tabs allowed, other control characters not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskDescription(String);

impl TaskDescription {
    pub fn parse(raw: &str) -> Result<TaskDescription, &'static str> {
        let t = raw.trim();
        if t.chars().count() > 5000 {
            return Err("must be at most 5000 characters");
        }
        if t.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            return Err("must not contain control characters");
        }
        Ok(TaskDescription(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 3] = [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done];

    pub fn parse(raw: &str) -> Result<TaskStatus, &'static str> {
        match raw {
            "todo" => Ok(TaskStatus::Todo),
            "in_progress" => Ok(TaskStatus::InProgress),
            "done" => Ok(TaskStatus::Done),
            _ => Err("must be one of: todo, in_progress, done"),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Todo => "todo",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Done => "done",
        }
    }
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// A due date: an ISO 8601 calendar date (`YYYY-MM-DD`) from 2000 to 2999.
/// Past dates are allowed (an overdue task is still a task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DueDate(#[serde(with = "iso_date")] Date);

impl DueDate {
    pub fn parse(raw: &str) -> Result<DueDate, &'static str> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = Date::parse(raw.trim(), &format).map_err(|_| "must be a date as YYYY-MM-DD")?;
        if !(2000..=2999).contains(&date.year()) {
            return Err("must be between 2000-01-01 and 2999-12-31");
        }
        Ok(DueDate(date))
    }
    pub fn date(&self) -> Date {
        self.0
    }
}

/// A stored task. `version` starts at 1 and grows with every change.
/// It is also what clients see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    /// A UUIDv7: ids sort by creation time.
    pub id: String,
    pub owner_id: String,
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub title: TaskTitle,
    #[schema(value_type = Option<String>, max_length = 5000)]
    pub description: Option<TaskDescription>,
    pub status: TaskStatus,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<DueDate>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The optimistic-concurrency version (also the `ETag`).
    pub version: u64,
}

impl Task {
    /// A new task of `owner`: a fresh (time-ordered) id, version 1.
    pub fn new(
        owner: &str,
        title: TaskTitle,
        description: Option<TaskDescription>,
        status: TaskStatus,
        due_date: Option<DueDate>,
    ) -> Task {
        let now = OffsetDateTime::now_utc();
        Task {
            id: uuid::Uuid::now_v7().to_string(),
            owner_id: owner.to_owned(),
            title,
            description,
            status,
            due_date,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(
            TaskTitle::parse("  Buy milk ").unwrap().as_str(),
            "Buy milk"
        );
        assert!(TaskTitle::parse(" \n ").is_err());
        assert!(TaskTitle::parse(&"x".repeat(201)).is_err());
        assert!(TaskTitle::parse(&"é".repeat(200)).is_ok());
        assert!(TaskTitle::parse("a\nb").is_err());
    }

    #[test]
    fn descriptions_allow_line_breaks_only() {
        assert!(TaskDescription::parse("one\n\ttwo").is_ok());
        assert!(TaskDescription::parse("bell\u{7}").is_err());
        assert!(TaskDescription::parse(&"x".repeat(5001)).is_err());
    }

    #[test]
    fn statuses_and_dates_parse_strictly() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Ok(s));
        }
        assert!(TaskStatus::parse("Done").is_err());
        assert!(DueDate::parse("2026-02-30").is_err());
        assert!(DueDate::parse("1999-12-31").is_err());
        assert!(DueDate::parse("2026-11-24").is_ok());
    }
}
