//! The caller's tasks (all protected; every task belongs to its creator and
//! nobody else can see or touch it — another user's task id is a 404):
//! - `GET /tasks?status=&limit=&cursor=`: newest first, one page at a time;
//! - `POST /tasks`: `title` (required), `description`, `status` (default
//!   `todo`), `due_date`; 201 with `Location` and `ETag`;
//! - `GET /tasks/{id}` (with an `ETag`);
//! - `PATCH /tasks/{id}`: a field left out is unchanged, `null` clears
//!   `description` or `due_date`. `If-Match` with a stale `ETag` is 412, a
//!   stale `version` in the body is 409, and so is a concurrent write;
//! - `DELETE /tasks/{id}`: 204 (412 on a stale `If-Match`).

use std::sync::Arc;

use edge::ApiError;
use edge::error::Fields;
use edge::http::{
    Caller, check_if_match, created, json, json_body, no_content, paging, path_id, query_param,
    respond, route_key, with_etag,
};
use http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::AppState;
use shared::domain::{DueDate, Task, TaskDescription, TaskStatus, TaskTitle};
use shared::repo::tasks::TaskWriteError;

pub async fn handle(state: Arc<AppState>, req: Request) -> Response<Body> {
    edge::idempotency::once(state, req, serve).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response<Body> {
    respond(dispatch(&state, &req).await)
}

async fn dispatch(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req)?;
    let owner = caller.user_id.as_str();
    match route_key(req).as_str() {
        "GET /tasks" => list(state, req, owner).await,
        "POST /tasks" => create(state, req, owner).await,
        "GET /tasks/{id}" => {
            let task = load(state, req, owner).await?;
            Ok(with_etag(json(StatusCode::OK, &task)?, task.version))
        }
        "PATCH /tasks/{id}" => patch(state, req, owner).await,
        "DELETE /tasks/{id}" => delete(state, req, owner).await,
        _ => Err(ApiError::NoRoute),
    }
}

/// The task named by the path, if it is the caller's. Ids that are not
/// UUIDs cannot exist, so they are a 404 like any unknown id.
async fn load(state: &AppState, req: &Request, owner: &str) -> Result<Task, ApiError> {
    let id = path_id(req, "id")?;
    state.tasks.get(owner, &id).await?.ok_or(ApiError::NotFound)
}

async fn list(state: &AppState, req: &Request, owner: &str) -> Result<Response<Body>, ApiError> {
    let (limit, cursor) = paging(req)?;
    let status = query_param(req, "status")
        .map(|s| TaskStatus::parse(s).map_err(|m| ApiError::field("status", m)))
        .transpose()?;
    let (items, next) = state.tasks.list(owner, status, limit, cursor).await?;
    json(
        StatusCode::OK,
        &serde_json::json!({ "items": items, "next_cursor": next }),
    )
}

#[derive(Deserialize)]
struct NewTaskBody {
    title: Option<String>,
    description: Option<String>,
    status: Option<String>,
    due_date: Option<String>,
}

async fn create(state: &AppState, req: &Request, owner: &str) -> Result<Response<Body>, ApiError> {
    let body: NewTaskBody = json_body(req)?;
    let mut fields = Fields::default();
    let title = match body.title {
        Some(t) => fields.check("title", TaskTitle::parse(&t)),
        None => fields.check::<TaskTitle>("title", Err("is required")),
    };
    let description = body
        .description
        .and_then(|d| fields.check("description", TaskDescription::parse(&d)))
        .filter(|d| !d.as_str().is_empty());
    let status = match body.status {
        Some(s) => fields.check("status", TaskStatus::parse(&s)),
        None => Some(TaskStatus::Todo),
    };
    let due_date = body
        .due_date
        .and_then(|d| fields.check("due_date", DueDate::parse(&d)));
    let (title, status) = fields.finish((title, status))?;
    let task = Task::new(owner, title, description, status, due_date);
    // The answer is made first, so that a retry's key replays what this
    // commit wrote.
    let answer = created(
        req,
        &task,
        &format!("/tasks/{}", task.id),
        Some(task.version),
    )?;
    let keyed = edge::idempotency::answer_writes(req, &answer);
    if !state.tasks.create_with(&task, keyed).await? {
        return Err(ApiError::Conflict("A task with this id exists.".into()));
    }
    Ok(answer)
}

#[derive(Deserialize)]
struct TaskPatch {
    title: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    description: Option<Option<String>>,
    status: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    due_date: Option<Option<String>>,
    /// The version the client edited (optional; `If-Match` works too).
    version: Option<u64>,
}

fn stale() -> ApiError {
    ApiError::Conflict("The task changed since you read it; read it again.".into())
}

async fn patch(state: &AppState, req: &Request, owner: &str) -> Result<Response<Body>, ApiError> {
    let current = load(state, req, owner).await?;
    check_if_match(req, current.version)?;
    let body: TaskPatch = json_body(req)?;
    if body.version.is_some_and(|v| v != current.version) {
        return Err(stale());
    }
    let mut next = current.clone();
    let mut fields = Fields::default();
    fields.patch("title", body.title, &mut next.title, |t| {
        TaskTitle::parse(&t)
    });
    fields.patch_nullable(
        "description",
        body.description,
        &mut next.description,
        |d| TaskDescription::parse(&d),
    );
    next.description = next.description.filter(|d| !d.as_str().is_empty());
    fields.patch("status", body.status, &mut next.status, |s| {
        TaskStatus::parse(&s)
    });
    fields.patch_nullable("due_date", body.due_date, &mut next.due_date, |d| {
        DueDate::parse(&d)
    });
    fields.finish(())?;
    if next == current {
        // Nothing changed: no write, no new version.
        return Ok(with_etag(json(StatusCode::OK, &current)?, current.version));
    }
    next.version = current.version + 1;
    next.updated_at = time::OffsetDateTime::now_utc();
    match state.tasks.replace(&next, current.version).await? {
        Ok(()) => Ok(with_etag(json(StatusCode::OK, &next)?, next.version)),
        Err(TaskWriteError::NotFound) => Err(ApiError::NotFound),
        Err(TaskWriteError::Stale) => Err(stale()),
    }
}

async fn delete(state: &AppState, req: &Request, owner: &str) -> Result<Response<Body>, ApiError> {
    let id = path_id(req, "id")?;
    // With If-Match the delete is conditional on that version: read it
    // first only to tell a stale tag (412) from a missing task (404).
    let expected = if req.headers().contains_key(header::IF_MATCH) {
        let current = state
            .tasks
            .get(owner, &id)
            .await?
            .ok_or(ApiError::NotFound)?;
        check_if_match(req, current.version)?;
        Some(current.version)
    } else {
        None
    };
    match state.tasks.delete(owner, &id, expected).await? {
        Ok(()) => Ok(no_content()),
        Err(TaskWriteError::NotFound) => Err(ApiError::NotFound),
        Err(TaskWriteError::Stale) => Err(ApiError::PreconditionFailed),
    }
}
