use crate::auth::{Action, Caller};
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Path, optional_body};
use crate::models::{
    DEFAULT_LIMIT, Page, PageParams, PeekParams, PeekResponse, PeekedMessageResponse, QueueRequest,
    QueueResponse, QueueStatsResponse, QueueUpdateRequest, RedriveRequest, RedriveResponse,
};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use tokio_postgres::types::ToSql;

/// Creates a queue.
#[utoipa::path(post, path = "/v1/queues", tag = "queues", request_body = QueueRequest,
    responses((status = 201, body = QueueResponse), (status = 400, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<QueueRequest>,
) -> Result<(StatusCode, Json<QueueResponse>), ApiError> {
    caller.require(Action::Manage, &req.id)?;
    // Dead letters would land in that queue: its manager must agree.
    if let Some(target) = &req.dead_letter_queue_id {
        caller.require(Action::Manage, target)?;
    }
    // The dead-letter settings are NULL when absent, which is what "not set" means to SQL.
    // A delay or deduplication window left out is left out of the call too, so the SQL
    // function's own default applies (one statement either way).
    let mut call = String::from(
        "SELECT * FROM psqlqueue.create_queue($1, $2, $3, \
         max_delivery_attempts => $4, dead_letter_queue_id => $5",
    );
    let mut args: Vec<&(dyn ToSql + Sync)> = vec![
        &req.id,
        &req.ack_deadline_seconds,
        &req.message_retention_seconds,
        &req.max_delivery_attempts,
        &req.dead_letter_queue_id,
    ];
    for (name, value) in [
        ("delivery_delay_seconds", &req.delivery_delay_seconds),
        (
            "deduplication_window_seconds",
            &req.deduplication_window_seconds,
        ),
    ] {
        if let Some(value) = value {
            args.push(value);
            call.push_str(&format!(", {name} => ${}", args.len()));
        }
    }
    call.push(')');
    let row = state.db.query_one(&call, &args).await?;
    Ok((StatusCode::CREATED, Json(QueueResponse::from(&row))))
}

/// Lists queues by id.
#[utoipa::path(get, path = "/v1/queues", tag = "queues", params(PageParams),
    responses((status = 200, body = Page<QueueResponse>), (status = 400, body = ErrorResponse)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<QueueResponse>>, ApiError> {
    Ok(Json(
        state
            .db
            .page("SELECT * FROM psqlqueue.list_queues($1, $2)", &page)
            .await?,
    ))
}

/// Gets a queue.
#[utoipa::path(get, path = "/v1/queues/{queue_id}", tag = "queues",
    responses((status = 200, body = QueueResponse), (status = 404, body = ErrorResponse)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QueueResponse>, ApiError> {
    let row = state
        .db
        .query_one("SELECT * FROM psqlqueue.get_queue($1)", &[&id])
        .await?;
    Ok(Json(QueueResponse::from(&row)))
}

/// Changes a queue's settings.
#[utoipa::path(put, path = "/v1/queues/{queue_id}", tag = "queues", request_body = QueueUpdateRequest,
    responses((status = 200, body = QueueResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<QueueUpdateRequest>,
) -> Result<Json<QueueResponse>, ApiError> {
    if let Some(target) = &req.dead_letter_queue_id {
        caller.require(Action::Manage, target)?;
    }
    let row = state
        .db
        .query_one(
            "SELECT * FROM psqlqueue.update_queue($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &req.ack_deadline_seconds,
                &req.message_retention_seconds,
                &req.delivery_delay_seconds,
                &req.max_delivery_attempts,
                &req.dead_letter_queue_id,
                // NULL (left out) keeps the queue's window.
                &req.deduplication_window_seconds,
            ],
        )
        .await?;
    Ok(Json(QueueResponse::from(&row)))
}

/// Deletes a queue with its messages and subscriptions.
#[utoipa::path(delete, path = "/v1/queues/{queue_id}", tag = "queues",
    responses((status = 204), (status = 404, body = ErrorResponse)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .query("SELECT psqlqueue.delete_queue($1)", &[&id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Messages deliverable now and the age of the oldest.
#[utoipa::path(get, path = "/v1/queues/{queue_id}/stats", tag = "queues",
    responses((status = 200, body = QueueStatsResponse), (status = 404, body = ErrorResponse)))]
pub(crate) async fn stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QueueStatsResponse>, ApiError> {
    let row = state
        .db
        .query_one("SELECT * FROM psqlqueue.queue_stats($1)", &[&id])
        .await?;
    Ok(Json(QueueStatsResponse {
        num_undelivered_messages: row.get(0),
        oldest_unacked_message_age_seconds: row.get(1),
    }))
}

/// Removes every message of the queue.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/purge", tag = "queues",
    responses((status = 204), (status = 404, body = ErrorResponse)))]
pub(crate) async fn purge(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .query("SELECT psqlqueue.purge_queue($1)", &[&id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the queue's expired messages.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/cleanup", tag = "queues",
    responses((status = 204), (status = 404, body = ErrorResponse)))]
pub(crate) async fn cleanup(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .query("SELECT psqlqueue.cleanup_queue($1)", &[&id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves dead-lettered messages of this queue back to the queue each came from (or all to
/// `target_queue_id`), deliverable at once. The body is optional.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/redrive", tag = "queues",
    request_body(content = RedriveRequest, description = "optional"),
    responses((status = 200, body = RedriveResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
pub(crate) async fn redrive(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<RedriveResponse>, ApiError> {
    let req: RedriveRequest = optional_body(request, &state).await?;
    // Moving messages into another queue is managing it too.
    if let Some(target) = &req.target_queue_id {
        caller.require(Action::Manage, target)?;
    }
    // Without a limit, redrive's own default applies.
    let row = match req.limit {
        Some(limit) => {
            state
                .db
                .query_one(
                    "SELECT psqlqueue.redrive($1, $2, $3)",
                    &[&id, &limit, &req.target_queue_id],
                )
                .await?
        }
        None => {
            state
                .db
                .query_one(
                    "SELECT psqlqueue.redrive($1, target_queue => $2)",
                    &[&id, &req.target_queue_id],
                )
                .await?
        }
    };
    Ok(Json(RedriveResponse { moved: row.get(0) }))
}

/// Shows up to `limit` live messages of the queue in id (arrival) order, after the id `after`,
/// without leasing or locking them (so without receipts): each with its `state`
/// (`deliverable`, `in_flight` or `delayed`) and, for a dead letter, the queue it came from.
/// Pass `next_after` back as `after` for the next page.
#[utoipa::path(get, path = "/v1/queues/{queue_id}/peek", tag = "queues", params(PeekParams),
    responses((status = 200, body = PeekResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
pub(crate) async fn peek(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<PeekParams>,
) -> Result<Json<PeekResponse>, ApiError> {
    // The limit is named in the call (and the answer) rather than left to the SQL default;
    // its range is peek's to judge.
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let rows = state
        .db
        .query(
            "SELECT * FROM psqlqueue.peek($1, $2, $3)",
            &[&id, &limit, &params.after],
        )
        .await?;
    let data = rows
        .iter()
        .map(|row| PeekedMessageResponse::from_row(row, &id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // A full page may have a successor; a short one is the end of the queue.
    let full = usize::try_from(limit).is_ok_and(|limit| limit > 0 && data.len() >= limit);
    let next_after = data
        .last()
        .filter(|_| full)
        .map(|message| message.id.clone());
    Ok(Json(PeekResponse {
        data,
        limit,
        next_after,
    }))
}
