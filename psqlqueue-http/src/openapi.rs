//! The OpenAPI 3 document's frame: its title and the shared schemas. The paths are added by
//! the router that serves them (`app::api_routes`), from the handlers' own attributes.

use crate::error::ErrorResponse;
use crate::models::*;
use utoipa::OpenApi;

/// psqlqueue's v1 API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "psqlqueue",
        description = "A message queue inside PostgreSQL: the v1 REST API.\n\n\
            Leases: every received message carries a `receipt` (new for every delivery) and \
            `lease_expires_at`. Pass the receipt to ack, nack and extend: they succeed only while \
            that lease holds, and answer 409 with code 11 once it has ended (the message may have \
            been delivered to another consumer since). Extend a lease you need longer before it \
            ends. Without a receipt, ack and nack act on a message leased right now by anyone.\n\n\
            Producers: a send may carry its own `delay_seconds`, a `deduplication_id` (a repeat \
            within the queue's `deduplication_window_seconds` answers the first send's id and \
            writes nothing, so a send whose answer was lost can be retried) and a `group_id` \
            (a group's messages are delivered in send order, one at a time). \
            `POST /v1/queues/{queue_id}/messages/batch` sends up to 1000 messages, all or \
            nothing. Publishing to a topic takes `deduplication_id` and `group_id` too."
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
        SendBatchRequest,
        SendBatchResponse,
        MessageResponse,
        MessageListResponse,
        AckRequest,
        NackRequest,
        ExtendRequest,
        ExtendResponse,
        BatchEntry,
        BatchRequest,
        BatchFailure,
        AckBatchResponse,
        NackBatchResponse,
        RedriveRequest,
        RedriveResponse,
        TopicRequest,
        TopicResponse,
        PublishRequest,
        PublishResponse,
        SubscriptionRequest,
        SubscriptionResponse,
    ))
)]
pub(crate) struct ApiDoc;
