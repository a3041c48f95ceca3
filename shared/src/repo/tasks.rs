//! Tasks, kept in their owner's partition so that every read and write is
//! scoped to the caller by its key: another user's task id simply does not
//! exist there (404, never 403, so ids leak nothing).
//!
//! | item | pk | sk | gsi1pk | gsi1sk |
//! |---|---|---|---|---|
//! | task | `TASKS#{owner}` | `TASK#{id}` | `TASKS#{owner}#{status}` | `TASK#{id}` |
//!
//! Ids are UUIDv7, so both orders are creation order: listing all tasks or
//! one status's tasks is one key-range query, newest first, whatever the
//! number of tasks (the first page of 100,000 costs what the first of 10 does).

use std::sync::Arc;

use serde_json::json;

use super::RepoError;
use crate::domain::{Task, TaskStatus};
use crate::ports::item_store::{
    self, Attrs, Condition, Index, ItemStore, Query, StoreError, Write,
};

#[derive(Clone)]
pub struct TaskRepo {
    store: Arc<dyn ItemStore>,
}

use crate::table_keys::{task as key, tasks_partition as partition};

fn to_item(task: &Task) -> Result<Attrs, RepoError> {
    let key = key(&task.owner_id, &task.id);
    let mut attrs = super::to_item(task, &key)?;
    attrs.insert(
        item_store::GSI1PK.into(),
        json!(format!(
            "{}#{}",
            partition(&task.owner_id),
            task.status.as_str()
        )),
    );
    attrs.insert(item_store::GSI1SK.into(), json!(key.sk));
    Ok(attrs)
}

/// Why a write did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum TaskWriteError {
    /// The task is gone.
    NotFound,
    /// The stored version is not the one the change was based on.
    Stale,
}

impl TaskRepo {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        TaskRepo { store }
    }

    /// Stores a new task; `false` when its id is taken (ids are fresh UUIDs,
    /// so only a retried or forged create meets one).
    pub async fn create(&self, task: &Task) -> Result<bool, RepoError> {
        self.create_with(task, Vec::new()).await
    }

    /// [`Self::create`] with `extra` writes in the same commit (an
    /// idempotency key's answer).
    pub async fn create_with(&self, task: &Task, extra: Vec<Write>) -> Result<bool, RepoError> {
        let put = Write::Put {
            item: to_item(task)?,
            condition: Some(Condition::NotExists),
        };
        match self.store.write_with(put, extra).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The owner's task, or `None` (also when it belongs to someone else).
    pub async fn get(&self, owner: &str, id: &str) -> Result<Option<Task>, RepoError> {
        self.store
            .get(&key(owner, id))
            .await?
            .map(super::from_item)
            .transpose()
    }

    /// One page of the owner's tasks, newest first, optionally of one status.
    pub async fn list(
        &self,
        owner: &str,
        status: Option<TaskStatus>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<Task>, Option<String>), RepoError> {
        let query = match status {
            None => Query::new(Index::Primary, partition(owner)),
            Some(s) => Query::new(Index::Gsi1, format!("{}#{}", partition(owner), s.as_str())),
        };
        super::from_page(
            self.store
                .query(query.limit(limit).cursor(cursor).descending())
                .await?,
        )
    }

    /// Replaces the task when its stored version is still `expected`.
    pub async fn replace(
        &self,
        next: &Task,
        expected: u64,
    ) -> Result<Result<(), TaskWriteError>, RepoError> {
        let condition = Condition::All(vec![
            Condition::Exists,
            Condition::Equals("version".into(), json!(expected)),
        ]);
        match self.store.put(to_item(next)?, Some(condition)).await {
            Ok(()) => Ok(Ok(())),
            Err(StoreError::ConditionFailed) => Ok(Err(self.why(&next.owner_id, &next.id).await?)),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the task; with `expected`, only if its version is still that.
    pub async fn delete(
        &self,
        owner: &str,
        id: &str,
        expected: Option<u64>,
    ) -> Result<Result<(), TaskWriteError>, RepoError> {
        let mut conditions = vec![Condition::Exists];
        conditions.extend(expected.map(|v| Condition::Equals("version".into(), json!(v))));
        match self
            .store
            .delete(key(owner, id), Some(Condition::All(conditions)))
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(StoreError::ConditionFailed) => Ok(Err(self.why(owner, id).await?)),
            Err(e) => Err(e.into()),
        }
    }

    async fn why(&self, owner: &str, id: &str) -> Result<TaskWriteError, RepoError> {
        Ok(match self.get(owner, id).await? {
            None => TaskWriteError::NotFound,
            Some(_) => TaskWriteError::Stale,
        })
    }

    /// Deletes all of the owner's tasks (account deletion); safe to repeat.
    pub async fn delete_all(&self, owner: &str) -> Result<(), RepoError> {
        Ok(self
            .store
            .delete_all(Query::new(Index::Primary, partition(owner)))
            .await?)
    }
}
