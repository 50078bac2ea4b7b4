//! The SQS JSON protocol over HTTP, with raw requests as botocore sends them: the queue
//! actions and the protocol's errors here; messages, batches and long polling in
//! `sqs_messages.rs`; Signature V4 and the access-key CLI in `sqs_auth.rs`.

#[path = "sqs_auth.rs"]
mod auth;
#[path = "sqs_messages.rs"]
mod messages;

use crate::helpers::{TestApp, spawn_app};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// One SQS answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The error's `__type` without its namespace (`QueueDoesNotExist`), or "" for a success.
    pub fn error(&self) -> &str {
        self.body["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t))
            .unwrap_or("")
    }

    /// The `x-amzn-query-error` header.
    pub fn query_error(&self) -> &str {
        self.headers
            .get("x-amzn-query-error")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Panics unless 200; returns the body.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{:?}", self.body);
        self.body
    }

    /// Asserts an error: status, `__type` and legacy code (`x-amzn-query-error`).
    pub fn fails(&self, status: u16, error: &str, legacy: &str) {
        assert_eq!(
            (self.status, self.error(), self.query_error()),
            (status, error, format!("{legacy};Sender").as_str()),
            "{:?}",
            self.body
        );
        assert!(self.body["message"].is_string(), "{:?}", self.body);
    }
}

/// Sends `body` as action `action` with extra headers; no signature.
pub async fn raw(
    app: &TestApp,
    action: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let mut request = app
        .http
        .post(format!("{}/", app.base))
        .header("Content-Type", "application/x-amz-json-1.0")
        .body(body.to_owned());
    if let Some(action) = action {
        request = request.header("X-Amz-Target", format!("AmazonSQS.{action}"));
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    answer(request.send().await.expect("request sent")).await
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-amz-json-1.0"),
        "{text}"
    );
    assert!(headers.contains_key("x-amzn-requestid"), "{text}");
    Answer {
        status,
        headers,
        body,
    }
}

/// Calls `action` with `input`, unsigned (auth none).
pub async fn sqs(app: &TestApp, action: &str, input: Value) -> Answer {
    raw(app, Some(action), &input.to_string(), &[]).await
}

/// The URL this client sees for `queue`.
pub fn url(app: &TestApp, queue: &str) -> String {
    format!("{}/000000000000/{queue}", app.base)
}

/// Creates `queue` with `attributes` over SQS; returns its URL.
pub async fn create(app: &TestApp, queue: &str, attributes: Value) -> String {
    let body = sqs(
        app,
        "CreateQueue",
        json!({"QueueName": queue, "Attributes": attributes}),
    )
    .await
    .ok();
    body["QueueUrl"].as_str().expect("QueueUrl").to_owned()
}

/// The queue's attributes.
pub async fn attributes(app: &TestApp, url: &str, names: &[&str]) -> Value {
    sqs(
        app,
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": names}),
    )
    .await
    .ok()["Attributes"]
        .clone()
}

#[tokio::test]
async fn queues_are_created_read_changed_listed_purged_and_deleted() {
    let app = spawn_app().await;
    let attrs =
        json!({"VisibilityTimeout": "45", "MessageRetentionPeriod": "3600", "DelaySeconds": "0"});
    let orders = create(&app, "orders", attrs.clone()).await;
    assert_eq!(orders, url(&app, "orders"));
    // The same attributes again: the same URL; with none, too (only those given are compared).
    assert_eq!(create(&app, "orders", attrs).await, orders);
    assert_eq!(create(&app, "orders", json!({})).await, orders);
    // Different ones: QueueNameExists, QueueAlreadyExists to query-era clients.
    sqs(
        &app,
        "CreateQueue",
        json!({"QueueName": "orders", "Attributes": {"VisibilityTimeout": "46"}}),
    )
    .await
    .fails(400, "QueueNameExists", "QueueAlreadyExists");
    // The same queue REST and SQL see.
    let (status, rest) = app.get("/v1/queues/orders").await;
    assert_eq!(
        (status, rest["ack_deadline_seconds"].as_i64()),
        (200, Some(45))
    );

    let found = sqs(&app, "GetQueueUrl", json!({"QueueName": "orders"}))
        .await
        .ok();
    assert_eq!(found["QueueUrl"], orders);
    sqs(&app, "GetQueueUrl", json!({"QueueName": "nope"}))
        .await
        .fails(
            400,
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
        );

    let all = attributes(&app, &orders, &["All"]).await;
    assert_eq!(all["VisibilityTimeout"], "45");
    assert_eq!(all["MessageRetentionPeriod"], "3600");
    assert_eq!(all["DelaySeconds"], "0");
    assert_eq!(all["ReceiveMessageWaitTimeSeconds"], "0");
    assert_eq!(all["ApproximateNumberOfMessages"], "0");
    assert_eq!(all["ApproximateNumberOfMessagesNotVisible"], "0");
    assert_eq!(all["ApproximateNumberOfMessagesDelayed"], "0");
    assert_eq!(all["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:orders");
    assert_eq!(
        all["MaximumMessageSize"], "262144",
        "the sidecar's default body limit"
    );
    assert!(
        all["CreatedTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .is_some()
    );
    assert!(
        all.get("RedrivePolicy").is_none() && all.get("FifoQueue").is_none(),
        "{all}"
    );
    // One attribute by name.
    let one = attributes(&app, &orders, &["QueueArn"]).await;
    assert_eq!(one.as_object().map(|m| m.len()), Some(1));
    sqs(
        &app,
        "GetQueueAttributes",
        json!({"QueueUrl": orders, "AttributeNames": ["Colour"]}),
    )
    .await
    .fails(400, "InvalidAttributeName", "InvalidAttributeName");

    // Counts follow the messages: one deliverable, one delayed.
    for delay in [0, 600] {
        sqs(
            &app,
            "SendMessage",
            json!({"QueueUrl": orders, "MessageBody": "m", "DelaySeconds": delay}),
        )
        .await
        .ok();
    }
    let counts = attributes(
        &app,
        &orders,
        &[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )
    .await;
    assert_eq!(
        (
            counts["ApproximateNumberOfMessages"].as_str(),
            counts["ApproximateNumberOfMessagesDelayed"].as_str()
        ),
        (Some("1"), Some("1"))
    );

    // SetQueueAttributes changes what it names and keeps the rest.
    sqs(
        &app,
        "SetQueueAttributes",
        json!({"QueueUrl": orders, "Attributes": {"VisibilityTimeout": "60"}}),
    )
    .await
    .ok();
    let changed = attributes(
        &app,
        &orders,
        &["VisibilityTimeout", "MessageRetentionPeriod"],
    )
    .await;
    assert_eq!(
        changed,
        json!({"VisibilityTimeout": "60", "MessageRetentionPeriod": "3600"})
    );
    sqs(
        &app,
        "SetQueueAttributes",
        json!({"QueueUrl": orders, "Attributes": {"VisibilityTimeout": "99999"}}),
    )
    .await
    .fails(400, "InvalidAttributeValue", "InvalidAttributeValue");
    sqs(
        &app,
        "SetQueueAttributes",
        json!({"QueueUrl": orders, "Attributes": {"FifoQueue": "true"}}),
    )
    .await
    .fails(400, "InvalidAttributeName", "InvalidAttributeName");

    // ListQueues: prefix and pages of MaxResults with NextToken.
    for name in ["orders-a", "orders-b", "other"] {
        create(&app, name, json!({})).await;
    }
    let listed = sqs(&app, "ListQueues", json!({"QueueNamePrefix": "orders"}))
        .await
        .ok();
    assert_eq!(
        listed["QueueUrls"],
        json!([orders, url(&app, "orders-a"), url(&app, "orders-b")])
    );
    assert!(listed.get("NextToken").is_none());
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"MaxResults": 2});
        if let Some(token) = &token {
            input["NextToken"] = json!(token);
        }
        let page = sqs(&app, "ListQueues", input).await.ok();
        pages.push(page["QueueUrls"].as_array().map_or(0, Vec::len));
        match page["NextToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, [2, 2], "4 queues in pages of 2");
    let none = sqs(&app, "ListQueues", json!({"QueueNamePrefix": "zzz"}))
        .await
        .ok();
    assert!(none.get("QueueUrls").is_none(), "{none}");
    sqs(&app, "ListQueues", json!({"MaxResults": 1001}))
        .await
        .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    sqs(
        &app,
        "ListQueues",
        json!({"MaxResults": 1, "NextToken": "***"}),
    )
    .await
    .fails(400, "InvalidParameterValue", "InvalidParameterValue");

    sqs(&app, "PurgeQueue", json!({"QueueUrl": orders}))
        .await
        .ok();
    let purged = attributes(
        &app,
        &orders,
        &[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )
    .await;
    assert_eq!(
        purged,
        json!({"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesDelayed": "0"})
    );
    // Tags: none kept, so none listed; tagging is unsupported.
    assert_eq!(
        sqs(&app, "ListQueueTags", json!({"QueueUrl": orders}))
            .await
            .ok(),
        json!({})
    );
    sqs(
        &app,
        "TagQueue",
        json!({"QueueUrl": orders, "Tags": {"a": "b"}}),
    )
    .await
    .fails(
        400,
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
    );

    sqs(&app, "DeleteQueue", json!({"QueueUrl": orders}))
        .await
        .ok();
    sqs(&app, "DeleteQueue", json!({"QueueUrl": orders}))
        .await
        .fails(
            400,
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
        );
    // Any URL whose last segment is the name names the queue.
    sqs(&app, "GetQueueAttributes", json!({"QueueUrl": "https://sqs.eu-west-3.amazonaws.com/123456789012/other", "AttributeNames": ["QueueArn"]}))
        .await
        .ok();
    app.stop().await;
}

#[tokio::test]
async fn create_queue_refuses_what_psqlqueue_cannot_hold() {
    let app = spawn_app().await;
    let refused = |name: &'static str, attributes: Value| {
        let app = &app;
        async move {
            sqs(
                app,
                "CreateQueue",
                json!({"QueueName": name, "Attributes": attributes}),
            )
            .await
        }
    };
    refused("q", json!({"Colour": "blue"})).await.fails(
        400,
        "InvalidAttributeName",
        "InvalidAttributeName",
    );
    refused("q", json!({"Policy": "{}"})).await.fails(
        400,
        "InvalidAttributeName",
        "InvalidAttributeName",
    );
    // The extension's range for a lease: 1 to 43200 (SQS allows 0).
    refused("q", json!({"VisibilityTimeout": "0"})).await.fails(
        400,
        "InvalidAttributeValue",
        "InvalidAttributeValue",
    );
    refused("q", json!({"VisibilityTimeout": "ten"}))
        .await
        .fails(400, "InvalidAttributeValue", "InvalidAttributeValue");
    refused("q", json!({"ReceiveMessageWaitTimeSeconds": "20"}))
        .await
        .fails(400, "InvalidAttributeValue", "InvalidAttributeValue");
    refused(
        "q.fifo",
        json!({"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
    )
    .await
    .fails(400, "InvalidAttributeValue", "InvalidAttributeValue");
    refused("q", json!({"FifoQueue": "true"})).await.fails(
        400,
        "InvalidParameterValue",
        "InvalidParameterValue",
    );
    refused("q.fifo", json!({}))
        .await
        .fails(400, "InvalidParameterValue", "InvalidParameterValue");
    refused("q", json!({"ContentBasedDeduplication": "false"}))
        .await
        .fails(400, "InvalidAttributeName", "InvalidAttributeName");
    refused("bad name", json!({})).await.fails(
        400,
        "InvalidParameterValue",
        "InvalidParameterValue",
    );
    refused("q", json!({"RedrivePolicy": "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:missing\",\"maxReceiveCount\":3}"}))
        .await
        .fails(400, "InvalidAttributeValue", "InvalidAttributeValue");
    sqs(
        &app,
        "CreateQueue",
        json!({"QueueName": "q", "tags": {"team": "a"}}),
    )
    .await
    .fails(
        400,
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
    );
    // Accepted and changing nothing.
    create(&app, "q", json!({"MaximumMessageSize": "262144", "SqsManagedSseEnabled": "false", "ReceiveMessageWaitTimeSeconds": "0"})).await;
    let fifo = create(
        &app,
        "q.fifo",
        json!({"FifoQueue": "true", "ContentBasedDeduplication": "false"}),
    )
    .await;
    let attributes = attributes(&app, &fifo, &["All"]).await;
    assert_eq!(attributes["FifoQueue"], "true");
    assert_eq!(attributes["ContentBasedDeduplication"], "false");
    app.stop().await;
}

#[tokio::test]
async fn protocol_errors_have_sqs_shape() {
    let app = spawn_app().await;
    raw(&app, Some("Frobnicate"), "{}", &[]).await.fails(
        400,
        "UnknownOperationException",
        "InvalidAction",
    );
    raw(&app, None, "{}", &[])
        .await
        .fails(400, "UnknownOperationException", "InvalidAction");
    raw(&app, Some("ListQueues"), "{not json", &[]).await.fails(
        400,
        "SerializationException",
        "SerializationException",
    );
    raw(&app, Some("ListQueues"), "[1]", &[]).await.fails(
        400,
        "SerializationException",
        "SerializationException",
    );
    sqs(&app, "SendMessage", json!({"MessageBody": "x"}))
        .await
        .fails(400, "MissingParameter", "MissingParameter");
    sqs(&app, "ListQueues", json!({"MaxResults": "ten"}))
        .await
        .fails(400, "SerializationException", "SerializationException");
    sqs(&app, "DeleteQueue", json!({"QueueUrl": "http://host/"}))
        .await
        .fails(404, "InvalidAddress", "InvalidAddress");
    for action in [
        "AddPermission",
        "RemovePermission",
        "UntagQueue",
        "CancelMessageMoveTask",
        "ListMessageMoveTasks",
    ] {
        sqs(&app, action, json!({})).await.fails(
            400,
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
        );
    }
    // Another method on / is not SQS.
    let response = app.raw(Method::GET, "/", None).await;
    let got = answer(response).await;
    assert_eq!(
        (got.status, got.error()),
        (400, "UnknownOperationException")
    );
    // An empty body is an empty input.
    assert_eq!(raw(&app, Some("ListQueues"), "", &[]).await.ok(), json!({}));
    // REST is unchanged beside it.
    assert_eq!(app.get("/v1/queues").await.0, 200);
    assert_eq!(app.get("/healthz").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_redrive_policy_dead_letters_and_a_move_task_brings_back() {
    let app = spawn_app().await;
    let dlq = create(&app, "dlq", json!({})).await;
    let policy = json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 1}).to_string();
    let source = create(&app, "work", json!({"RedrivePolicy": policy})).await;
    let got = attributes(&app, &source, &["RedrivePolicy"]).await;
    let stored: Value =
        serde_json::from_str(got["RedrivePolicy"].as_str().unwrap_or("{}")).expect("policy JSON");
    assert_eq!(
        stored,
        json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 1})
    );
    let sources = sqs(&app, "ListDeadLetterSourceQueues", json!({"QueueUrl": dlq}))
        .await
        .ok();
    assert_eq!(sources["queueUrls"], json!([source]));
    let empty = sqs(
        &app,
        "ListDeadLetterSourceQueues",
        json!({"QueueUrl": source}),
    )
    .await
    .ok();
    assert_eq!(empty, json!({"queueUrls": []}));

    // A poison message: received once (its lease given back at once), then dead-lettered.
    sqs(
        &app,
        "SendMessage",
        json!({"QueueUrl": source, "MessageBody": "poison"}),
    )
    .await
    .ok();
    let first = sqs(
        &app,
        "ReceiveMessage",
        json!({"QueueUrl": source, "VisibilityTimeout": 0}),
    )
    .await
    .ok();
    assert_eq!(first["Messages"][0]["Body"], "poison");
    let second = sqs(&app, "ReceiveMessage", json!({"QueueUrl": source}))
        .await
        .ok();
    assert!(second.get("Messages").is_none(), "{second}");
    assert_eq!(
        attributes(&app, &dlq, &["ApproximateNumberOfMessages"]).await["ApproximateNumberOfMessages"],
        "1"
    );

    // The move task runs before it answers: the message is back in its source queue.
    let task = sqs(
        &app,
        "StartMessageMoveTask",
        json!({"SourceArn": "arn:aws:sqs:us-east-1:000000000000:dlq"}),
    )
    .await
    .ok();
    assert!(task["TaskHandle"].is_string(), "{task}");
    assert_eq!(
        attributes(&app, &source, &["ApproximateNumberOfMessages"]).await["ApproximateNumberOfMessages"],
        "1"
    );
    sqs(
        &app,
        "StartMessageMoveTask",
        json!({"SourceArn": "arn:aws:sqs:us-east-1:000000000000:nope"}),
    )
    .await
    .fails(
        404,
        "ResourceNotFoundException",
        "ResourceNotFoundException",
    );
    // Which queue is missing is asked, not guessed from the error's wording: a missing source
    // whose name contains the destination's is the source, and a missing destination is the
    // destination.
    let missing = |answer: Answer| {
        answer.fails(
            404,
            "ResourceNotFoundException",
            "ResourceNotFoundException",
        );
        answer.body["message"].as_str().unwrap_or("").to_owned()
    };
    let source_missing = missing(
        sqs(
            &app,
            "StartMessageMoveTask",
            json!({"SourceArn": "arn:aws:sqs:us-east-1:000000000000:work-dlq",
                   "DestinationArn": "arn:aws:sqs:us-east-1:000000000000:work"}),
        )
        .await,
    );
    assert!(source_missing.contains("SourceArn"), "{source_missing}");
    let destination_missing = missing(
        sqs(
            &app,
            "StartMessageMoveTask",
            json!({"SourceArn": "arn:aws:sqs:us-east-1:000000000000:dlq",
                   "DestinationArn": "arn:aws:sqs:us-east-1:000000000000:nowhere"}),
        )
        .await,
    );
    assert!(
        destination_missing.contains("DestinationArn"),
        "{destination_missing}"
    );

    // Removing the policy; the dead-letter queue then has no sources.
    sqs(
        &app,
        "SetQueueAttributes",
        json!({"QueueUrl": source, "Attributes": {"RedrivePolicy": ""}}),
    )
    .await
    .ok();
    assert!(
        attributes(&app, &source, &["All"])
            .await
            .get("RedrivePolicy")
            .is_none()
    );
    let none = sqs(&app, "ListDeadLetterSourceQueues", json!({"QueueUrl": dlq}))
        .await
        .ok();
    assert_eq!(none["queueUrls"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn limits_and_transient_errors_answer_in_sqs_shape() {
    let app = crate::helpers::spawn_app_with(&[
        ("PSQLQUEUE_SERVER_MAX_CONCURRENT_REQUESTS", "1"),
        ("PSQLQUEUE_SERVER_MAX_BODY_BYTES", "4096"),
        ("PSQLQUEUE_DATABASE_LOCK_TIMEOUT_MS", "300"),
    ])
    .await;
    let url = create(&app, "q", json!({})).await;
    let unavailable = |answer: &Answer| {
        assert_eq!(
            (answer.status, answer.error(), answer.query_error()),
            (503, "ServiceUnavailable", "ServiceUnavailable;Receiver"),
            "{:?}",
            answer.body
        );
        assert_eq!(
            answer
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    };
    // A lock timeout (55P03) in the database: transient.
    let locker = app.db().connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE psqlqueue.queues IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    unavailable(&sqs(&app, "GetQueueUrl", json!({"QueueName": "q"})).await);
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    // The concurrency limit, answered by the limits before the SQS handler: SQS's shape all
    // the same.
    let waiter = {
        let http = app.http.clone();
        let base = app.base.clone();
        let url = url.clone();
        tokio::spawn(async move {
            http.post(format!("{base}/"))
                .header("X-Amz-Target", "AmazonSQS.ReceiveMessage")
                .body(json!({"QueueUrl": url, "WaitTimeSeconds": 3}).to_string())
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    unavailable(&sqs(&app, "GetQueueUrl", json!({"QueueName": "q"})).await);
    assert_eq!(waiter.await.expect("join"), 200);
    // A body over the limit: 413 in SQS's shape.
    let big = json!({"QueueUrl": url, "MessageBody": "x".repeat(5000)});
    let answer = sqs(&app, "SendMessage", big).await;
    assert_eq!(
        (answer.status, answer.error()),
        (413, "RequestEntityTooLarge"),
        "{:?}",
        answer.body
    );
    app.stop().await;
}
