use crate::error::{ApiError, ErrorCode, ErrorResponse, LEASE_NOT_HELD, MESSAGE_NOT_FOUND};
use crate::extract::{ApiJson, ApiQuery, Path, optional_body};
use crate::models::{
    AckBatchResponse, AckRequest, BatchFailure, BatchRequest, DEFAULT_LIMIT, ExtendRequest,
    ExtendResponse, MessageCreatedResponse, MessageListResponse, MessageRequest, MessageResponse,
    NackBatchResponse, NackRequest, ReceiveParams, SendBatchRequest, SendBatchResponse,
};
use crate::state::AppState;
use crate::wakeups;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use std::time::Duration;
use tokio::time::Instant;

/// Sends a message to a queue. With a `deduplication_id` seen by the queue within its
/// deduplication window, answers the first send's id (201 again) and writes nothing.
/// Concurrent sends to one queue may share a transaction (`batch`); each is answered after
/// it committed.
#[utoipa::path(post, path = "/v1/queues/{queue_id}/messages", tag = "messages", request_body = MessageRequest,
    responses((status = 201, body = MessageCreatedResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 413, body = ErrorResponse)))]
pub(crate) async fn send(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> Result<(StatusCode, Json<MessageCreatedResponse>), ApiError> {
    let id = state.batcher.send(queue, req).await?;
    Ok((StatusCode::CREATED, Json(MessageCreatedResponse { id })))
}

/// Sends up to 1000 messages to a queue in one statement, all or nothing: one bad message
/// (named by its 0-based index, `messages[i]`) and none is sent. The ids come in the order of
/// the messages.
#[utoipa::path(post, path = "/v1/queues/{queue_id}/messages/batch", tag = "messages",
    request_body = SendBatchRequest,
    responses((status = 201, body = SendBatchResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 413, body = ErrorResponse)))]
pub(crate) async fn send_batch(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    ApiJson(req): ApiJson<SendBatchRequest>,
) -> Result<(StatusCode, Json<SendBatchResponse>), ApiError> {
    let rows = state
        .db
        .query(
            "SELECT psqlqueue.send_batch($1, $2)",
            &[&queue, &req.messages],
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SendBatchResponse {
            ids: rows.iter().map(|row| row.get(0)).collect(),
        }),
    ))
}

/// Longest long-poll wait a receive may ask for, in seconds (as SQS).
pub(crate) const MAX_WAIT_SECONDS: i32 = 20;

const RECEIVE: &str = "SELECT id, queue_id, label, body, attributes, delivery_attempts, created_at,
                              receipt, lease_expires_at, group_id
                         FROM psqlqueue.receive($1, $2, $3)";

/// Receives (leases) messages, oldest first. With `wait_seconds`, waits up to that long for
/// one to arrive (long polling) without holding a database connection.
#[utoipa::path(get, path = "/v1/queues/{queue_id}/messages", tag = "messages", params(ReceiveParams),
    responses((status = 200, body = MessageListResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(crate) async fn receive(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    ApiQuery(params): ApiQuery<ReceiveParams>,
) -> Result<Json<MessageListResponse>, ApiError> {
    let limit = params
        .limit
        .unwrap_or(DEFAULT_LIMIT)
        .min(state.max_messages);
    let wait = params.wait_seconds.unwrap_or(0);
    if !(0..=MAX_WAIT_SECONDS).contains(&wait) {
        return Err(ApiError::invalid(format!(
            "invalid wait_seconds: must be between 0 and {MAX_WAIT_SECONDS}, got {wait}"
        )));
    }
    let respond = |rows: Vec<tokio_postgres::Row>| {
        Json(MessageListResponse {
            data: rows.iter().map(MessageResponse::from).collect(),
            limit,
        })
    };
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&queue, &params.label, &limit];
    if wait == 0 {
        return Ok(respond(state.db.query(RECEIVE, &args).await?));
    }
    let deadline = Instant::now() + Duration::from_secs(wait.unsigned_abs().into());
    let labelled = params
        .label
        .as_deref()
        .is_some_and(|label| !label.is_empty());
    let rows = state
        .wakeups
        .poll(
            &queue,
            labelled,
            deadline,
            usize::try_from(limit).unwrap_or(usize::MAX),
            || state.db.query(RECEIVE, &args),
            || async {
                state
                    .db
                    .query(
                        "SELECT psqlqueue.listen_for($1, $2)",
                        &[&queue, &wakeups::LISTEN_SECONDS],
                    )
                    .await
                    .map(|_| ())
            },
        )
        .await?;
    Ok(respond(rows))
}

/// Acknowledges a leased message: it is never delivered again. The receipt (body or query)
/// makes it succeed only while that delivery's lease holds.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/messages/{message_id}/ack", tag = "messages",
    request_body(content = AckRequest, description = "optional"), params(AckRequest),
    responses((status = 204), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(crate) async fn ack(
    State(state): State<AppState>,
    Path((queue, message)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<AckRequest>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let body: AckRequest = optional_body(request, &state).await?;
    let receipt = body.receipt.or(query.receipt);
    state.batcher.ack(queue, message, receipt).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a leased message back, deliverable again after `visibility_timeout_seconds`; both it
/// and the receipt may come in the body or the query string.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/messages/{message_id}/nack", tag = "messages",
    request_body(content = NackRequest, description = "optional"), params(NackRequest),
    responses((status = 204), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
pub(crate) async fn nack(
    State(state): State<AppState>,
    Path((queue, message)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<NackRequest>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let body: NackRequest = optional_body(request, &state).await?;
    let receipt = body.receipt.or(query.receipt);
    let timeout = body
        .visibility_timeout_seconds
        .or(query.visibility_timeout_seconds);
    state.batcher.nack(queue, message, timeout, receipt).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the end of a held lease to `seconds` from now.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/messages/{message_id}/extend", tag = "messages",
    request_body = ExtendRequest,
    responses((status = 200, body = ExtendResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(crate) async fn extend(
    State(state): State<AppState>,
    Path((queue, message)): Path<(String, String)>,
    ApiJson(req): ApiJson<ExtendRequest>,
) -> Result<Json<ExtendResponse>, ApiError> {
    let row = state
        .db
        .query_one(
            "SELECT psqlqueue.extend($1, $2, $3, $4)",
            &[&queue, &message, &req.receipt, &req.seconds],
        )
        .await?;
    Ok(Json(ExtendResponse {
        lease_expires_at: row.get(0),
    }))
}

/// Acknowledges up to 1000 leased messages in one statement; each succeeds or fails alone.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/messages/ack", tag = "messages",
    request_body = BatchRequest,
    responses((status = 200, body = AckBatchResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
pub(crate) async fn ack_batch(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<AckBatchResponse>, ApiError> {
    let (ids, receipts) = req.columns();
    let rows = state
        .db
        .query(
            "SELECT message_id, status FROM psqlqueue.ack_batch($1, $2, $3)",
            &[&queue, &ids, &receipts],
        )
        .await?;
    let (acked, failed) = outcomes(&rows, "acked")?;
    Ok(Json(AckBatchResponse { acked, failed }))
}

/// Gives back up to 1000 leased messages in one statement; each succeeds or fails alone.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/messages/nack", tag = "messages",
    request_body = BatchRequest,
    responses((status = 200, body = NackBatchResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
pub(crate) async fn nack_batch(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<NackBatchResponse>, ApiError> {
    let (ids, receipts) = req.columns();
    let rows =
        match req.visibility_timeout_seconds {
            Some(timeout) => {
                state
                    .db
                    .query(
                        "SELECT message_id, status FROM psqlqueue.nack_batch($1, $2, $3, $4)",
                        &[&queue, &ids, &timeout, &receipts],
                    )
                    .await?
            }
            None => state
                .db
                .query(
                    "SELECT message_id, status FROM psqlqueue.nack_batch($1, $2, receipts => $3)",
                    &[&queue, &ids, &receipts],
                )
                .await?,
        };
    let (nacked, failed) = outcomes(&rows, "nacked")?;
    Ok(Json(NackBatchResponse { nacked, failed }))
}

/// Splits a batch's `(message_id, status)` rows into the ids that got `done` and the failures,
/// worded as the single calls' errors are.
fn outcomes(
    rows: &[tokio_postgres::Row],
    done: &str,
) -> Result<(Vec<String>, Vec<BatchFailure>), ApiError> {
    let mut succeeded = Vec::new();
    let mut failed = Vec::new();
    for row in rows {
        let id: String = row.get(0);
        let status: &str = row.get(1);
        let (code, message) = match status {
            _ if status == done => {
                succeeded.push(id);
                continue;
            }
            "lease_lost" => (ErrorCode::LeaseNotHeld, LEASE_NOT_HELD),
            "not_found" => (ErrorCode::MessageNotFound, MESSAGE_NOT_FOUND),
            other => {
                return Err(ApiError::Internal(format!(
                    "unknown batch status {other:?}"
                )));
            }
        };
        failed.push(BatchFailure {
            id,
            code: code as u8,
            message: message.to_owned(),
        });
    }
    Ok((succeeded, failed))
}
