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
            ends. Without a receipt, ack and nack act on a message leased right now by anyone."
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
        PublishResponse,
        SubscriptionRequest,
        SubscriptionResponse,
    ))
)]
pub(crate) struct ApiDoc;
