use crate::error::{ApiError, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Path};
use crate::models::{
    Page, PageParams, QueueRequest, QueueResponse, QueueStatsResponse, QueueUpdateRequest,
};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Creates a queue.
#[utoipa::path(post, path = "/v1/queues", tag = "queues", request_body = QueueRequest,
    responses((status = 201, body = QueueResponse), (status = 400, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<QueueRequest>,
) -> Result<(StatusCode, Json<QueueResponse>), ApiError> {
    // Without a delay, the SQL function's own default applies (one statement each).
    let row = match req.delivery_delay_seconds {
        Some(delay) => {
            state
                .db
                .query_one(
                    "SELECT * FROM psqlqueue.create_queue($1, $2, $3, $4)",
                    &[
                        &req.id,
                        &req.ack_deadline_seconds,
                        &req.message_retention_seconds,
                        &delay,
                    ],
                )
                .await?
        }
        None => {
            state
                .db
                .query_one(
                    "SELECT * FROM psqlqueue.create_queue($1, $2, $3)",
                    &[
                        &req.id,
                        &req.ack_deadline_seconds,
                        &req.message_retention_seconds,
                    ],
                )
                .await?
        }
    };
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
    Path(id): Path<String>,
    ApiJson(req): ApiJson<QueueUpdateRequest>,
) -> Result<Json<QueueResponse>, ApiError> {
    let row = state
        .db
        .query_one(
            "SELECT * FROM psqlqueue.update_queue($1, $2, $3, $4)",
            &[
                &id,
                &req.ack_deadline_seconds,
                &req.message_retention_seconds,
                &req.delivery_delay_seconds,
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
