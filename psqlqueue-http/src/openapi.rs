//! The OpenAPI 3 document, generated from the handlers and their types.

use crate::error::ErrorResponse;
use crate::models::*;
use crate::routes::{health, messages, queues, subscriptions, topics};
use utoipa::OpenApi;

/// psqlqueue's v1 API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "psqlqueue",
        description = "A message queue inside PostgreSQL: the v1 REST API."
    ),
    paths(
        health::healthz,
        queues::create,
        queues::list,
        queues::get,
        queues::update,
        queues::delete,
        queues::stats,
        queues::purge,
        queues::cleanup,
        messages::send,
        messages::receive,
        messages::ack,
        messages::nack,
        topics::create,
        topics::list,
        topics::get,
        topics::delete,
        topics::publish,
        subscriptions::create,
        subscriptions::list,
        subscriptions::get,
        subscriptions::delete,
    ),
    components(schemas(
        ErrorResponse,
        HealthResponse,
        QueueRequest,
        QueueUpdateRequest,
        QueueResponse,
        QueueStatsResponse,
        MessageRequest,
        MessageCreatedResponse,
        MessageResponse,
        MessageListResponse,
        NackRequest,
        TopicRequest,
        TopicResponse,
        PublishResponse,
        SubscriptionRequest,
        SubscriptionResponse,
    ))
)]
pub struct ApiDoc;
