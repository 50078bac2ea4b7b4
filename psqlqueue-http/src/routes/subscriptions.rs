use crate::auth::{Action, Caller};
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Path};
use crate::models::{Page, PageParams, SubscriptionRequest, SubscriptionResponse};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

/// Subscribes a queue to a topic.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions", request_body = SubscriptionRequest,
    responses((status = 201, body = SubscriptionResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SubscriptionRequest>,
) -> Result<(StatusCode, Json<SubscriptionResponse>), ApiError> {
    // A subscription routes the topic's messages into the queue: both their managers decide
    // (managing a queue alone must not let a token read any topic).
    caller.require(Action::Manage, &req.queue_id)?;
    caller.require(Action::Manage, &req.topic_id)?;
    let row = state
        .db
        .query_one(
            "SELECT * FROM psqlqueue.create_subscription($1, $2, $3, $4)",
            &[&req.id, &req.topic_id, &req.queue_id, &req.message_filters],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(SubscriptionResponse::from(&row))))
}

/// Lists subscriptions by id.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions", params(PageParams),
    responses((status = 200, body = Page<SubscriptionResponse>), (status = 400, body = ErrorResponse)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<SubscriptionResponse>>, ApiError> {
    Ok(Json(
        state
            .db
            .page("SELECT * FROM psqlqueue.list_subscriptions($1, $2)", &page)
            .await?,
    ))
}

/// Gets a subscription.
#[utoipa::path(get, path = "/v1/subscriptions/{subscription_id}", tag = "subscriptions",
    responses((status = 200, body = SubscriptionResponse), (status = 404, body = ErrorResponse)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let row = state
        .db
        .query_one("SELECT * FROM psqlqueue.get_subscription($1)", &[&id])
        .await?;
    Ok(Json(SubscriptionResponse::from(&row)))
}

/// Deletes a subscription.
#[utoipa::path(delete, path = "/v1/subscriptions/{subscription_id}", tag = "subscriptions",
    responses((status = 204), (status = 404, body = ErrorResponse)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .query("SELECT psqlqueue.delete_subscription($1)", &[&id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
