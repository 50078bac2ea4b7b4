use crate::auth::{Action, Caller};
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Path};
use crate::models::{
    Page, PageParams, PublishRequest, PublishResponse, TopicRequest, TopicResponse,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

/// Creates a topic.
#[utoipa::path(post, path = "/v1/topics", tag = "topics", request_body = TopicRequest,
    responses((status = 201, body = TopicResponse), (status = 400, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<TopicRequest>,
) -> Result<(StatusCode, Json<TopicResponse>), ApiError> {
    caller.require(Action::Manage, &req.id)?;
    // Without a window, create_topic's own default applies.
    let row = match req.deduplication_window_seconds {
        Some(window) => {
            state
                .db
                .query_one(
                    "SELECT * FROM psqlqueue.create_topic($1, $2)",
                    &[&req.id, &window],
                )
                .await?
        }
        None => {
            state
                .db
                .query_one("SELECT * FROM psqlqueue.create_topic($1)", &[&req.id])
                .await?
        }
    };
    Ok((StatusCode::CREATED, Json(TopicResponse::from(&row))))
}

/// Lists topics by id.
#[utoipa::path(get, path = "/v1/topics", tag = "topics", params(PageParams),
    responses((status = 200, body = Page<TopicResponse>), (status = 400, body = ErrorResponse)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<TopicResponse>>, ApiError> {
    Ok(Json(
        state
            .db
            .page("SELECT * FROM psqlqueue.list_topics($1, $2)", &page)
            .await?,
    ))
}

/// Gets a topic.
#[utoipa::path(get, path = "/v1/topics/{topic_id}", tag = "topics",
    responses((status = 200, body = TopicResponse), (status = 404, body = ErrorResponse)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TopicResponse>, ApiError> {
    let row = state
        .db
        .query_one("SELECT * FROM psqlqueue.get_topic($1)", &[&id])
        .await?;
    Ok(Json(TopicResponse::from(&row)))
}

/// Deletes a topic with its subscriptions.
#[utoipa::path(delete, path = "/v1/topics/{topic_id}", tag = "topics",
    responses((status = 204), (status = 404, body = ErrorResponse)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .query("SELECT psqlqueue.delete_topic($1)", &[&id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes a message to every subscribed queue whose filter matches. With a
/// `deduplication_id` seen by the topic within its deduplication window, writes nothing and
/// answers the first publish's count.
#[utoipa::path(post, path = "/v1/topics/{topic_id}/messages", tag = "topics", request_body = PublishRequest,
    responses((status = 201, body = PublishResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 413, body = ErrorResponse)))]
pub(crate) async fn publish(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    ApiJson(req): ApiJson<PublishRequest>,
) -> Result<(StatusCode, Json<PublishResponse>), ApiError> {
    let delivered = state.batcher.publish(topic, req).await?;
    Ok((StatusCode::CREATED, Json(PublishResponse { delivered })))
}
