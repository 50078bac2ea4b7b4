use crate::error::{ApiError, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Path, body_bytes, parse_json};
use crate::models::{
    DEFAULT_LIMIT, MessageCreatedResponse, MessageListResponse, MessageRequest, MessageResponse,
    NackRequest, ReceiveParams,
};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;

/// Sends a message to a queue.
#[utoipa::path(post, path = "/v1/queues/{queue_id}/messages", tag = "messages", request_body = MessageRequest,
    responses((status = 201, body = MessageCreatedResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 413, body = ErrorResponse)))]
pub(crate) async fn send(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> Result<(StatusCode, Json<MessageCreatedResponse>), ApiError> {
    let row = state
        .db
        .query_one(
            "SELECT psqlqueue.send($1, $2, $3, $4)",
            &[&queue, &req.body, &req.label, &req.attributes],
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MessageCreatedResponse { id: row.get(0) }),
    ))
}

/// Receives (leases) messages, oldest first.
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
    let rows = state
        .db
        .query(
            "SELECT id, queue_id, label, body, attributes, delivery_attempts, created_at
               FROM psqlqueue.receive($1, $2, $3)",
            &[&queue, &params.label, &limit],
        )
        .await?;
    Ok(Json(MessageListResponse {
        data: rows.iter().map(MessageResponse::from).collect(),
        limit,
    }))
}

/// Acknowledges a message: it is never delivered again.
#[utoipa::path(put, path = "/v1/queues/{queue_id}/messages/{message_id}/ack", tag = "messages",
    responses((status = 204), (status = 404, body = ErrorResponse)))]
pub(crate) async fn ack(
    State(state): State<AppState>,
    Path((queue, message)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .query("SELECT psqlqueue.ack($1, $2)", &[&queue, &message])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a message back, deliverable again after `visibility_timeout_seconds` (body or query).
#[utoipa::path(put, path = "/v1/queues/{queue_id}/messages/{message_id}/nack", tag = "messages",
    request_body(content = NackRequest, description = "optional"), params(NackRequest),
    responses((status = 204), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(crate) async fn nack(
    State(state): State<AppState>,
    Path((queue, message)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<NackRequest>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let bytes = body_bytes(request, &state).await?;
    let body: NackRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        NackRequest::default()
    } else {
        parse_json(&bytes)?
    };
    let timeout = body
        .visibility_timeout_seconds
        .or(query.visibility_timeout_seconds)
        .unwrap_or(0);
    state
        .db
        .query(
            "SELECT psqlqueue.nack($1, $2, $3)",
            &[&queue, &message, &timeout],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
