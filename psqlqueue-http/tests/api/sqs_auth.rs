//! SQS authentication: with `PSQLQUEUE_AUTH=token`, requests signed (AWS Signature V4, by the
//! signer below, written from the IAM guide) with an access key from `psqlqueue token create
//! --sqs` or `psqlqueue token access-key`, with the token's scopes; wrong secrets, unknown
//! keys, unsigned, tampered and stale requests refused in SQS's words. With auth off, any
//! credentials or none.

use super::{Answer, answer, raw, url};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// An access key.
#[derive(Debug, Clone)]
struct Key {
    id: String,
    secret: String,
}

/// Reads `AWS_ACCESS_KEY_ID=...` and `AWS_SECRET_ACCESS_KEY=...` lines.
fn key_from(output: &str) -> Key {
    let value = |name: &str| {
        output
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {output:?}"))
            .to_owned()
    };
    Key {
        id: value("AWS_ACCESS_KEY_ID"),
        secret: value("AWS_SECRET_ACCESS_KEY"),
    }
}

/// Sends `input` as `action`, signed with `key` as botocore signs (content-type, host,
/// x-amz-date and x-amz-target signed; region us-east-1; service sqs), at `at`. `sent_body`
/// replaces the body after signing, to tamper with it.
async fn signed(
    app: &TestApp,
    key: &Key,
    action: &str,
    input: &Value,
    at: chrono::DateTime<chrono::Utc>,
    sent_body: Option<&str>,
) -> Answer {
    let body = input.to_string();
    let host = app.base.trim_start_matches("http://").to_owned();
    let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let target = format!("AmazonSQS.{action}");
    let content_type = "application/x-amz-json-1.0";
    let canonical = format!(
        "POST\n/\n\ncontent-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\nx-amz-target:{target}\n\n\
         content-type;host;x-amz-date;x-amz-target\n{}",
        hex(&Sha256::digest(body.as_bytes()))
    );
    let scope = format!("{date}/us-east-1/sqs/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut signing = format!("AWS4{}", key.secret).into_bytes();
    for part in [date, "us-east-1", "sqs", "aws4_request"] {
        signing = hmac(&signing, part);
    }
    let signature = hex(&hmac(&signing, &to_sign));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}",
        key.id
    );
    let response = app
        .http
        .post(format!("{}/", app.base))
        .header("Content-Type", content_type)
        .header("X-Amz-Date", &amz_date)
        .header("X-Amz-Target", &target)
        .header("Authorization", authorization)
        .body(sent_body.unwrap_or(&body).to_owned())
        .send()
        .await
        .expect("request sent");
    answer(response).await
}

async fn call(app: &TestApp, key: &Key, action: &str, input: Value) -> Answer {
    signed(app, key, action, &input, chrono::Utc::now(), None).await
}

/// Creates token `name` with `scopes` and an access key; returns the key.
fn token_with_key(app: &TestApp, name: &str, scopes: &[&str]) -> Key {
    let mut args = vec!["token", "create", "--name", name, "--sqs"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let (ok, out, err) = app.cli(&args);
    assert!(ok, "token create --sqs: {err}");
    let first = out.lines().next().unwrap_or_default();
    assert!(first.starts_with("pqq_"), "the token first: {out:?}");
    let key = key_from(&out);
    assert!(key.id.starts_with("PQQA") && key.id.len() == 20, "{key:?}");
    assert_eq!(key.secret.len(), 40, "{key:?}");
    key
}

#[tokio::test]
async fn signed_requests_are_verified_and_carry_their_tokens_scopes() {
    // No cache: a rotated or revoked key is refused at once.
    let app = spawn_app_with(&[
        ("PSQLQUEUE_AUTH", "token"),
        ("PSQLQUEUE_AUTH_CACHE_SECONDS", "0"),
    ])
    .await;
    let admin = token_with_key(&app, "admin", &["admin"]);
    let created = call(&app, &admin, "CreateQueue", json!({"QueueName": "orders"}))
        .await
        .ok();
    assert_eq!(created["QueueUrl"], url(&app, "orders"));
    let send = json!({"QueueUrl": url(&app, "orders"), "MessageBody": "hi"});

    // Unsigned, a made-up key, a wrong secret, a changed body, a stale date.
    raw(&app, Some("SendMessage"), &send.to_string(), &[])
        .await
        .fails(
            403,
            "MissingAuthenticationToken",
            "MissingAuthenticationToken",
        );
    let unknown = Key {
        id: "PQQA0000000000000000".into(),
        secret: admin.secret.clone(),
    };
    call(&app, &unknown, "SendMessage", send.clone())
        .await
        .fails(403, "InvalidClientTokenId", "InvalidClientTokenId");
    let wrong = Key {
        id: admin.id.clone(),
        secret: "0".repeat(40),
    };
    call(&app, &wrong, "SendMessage", send.clone()).await.fails(
        403,
        "SignatureDoesNotMatch",
        "SignatureDoesNotMatch",
    );
    let other_body = json!({"QueueUrl": url(&app, "orders"), "MessageBody": "changed"}).to_string();
    signed(
        &app,
        &admin,
        "SendMessage",
        &send,
        chrono::Utc::now(),
        Some(&other_body),
    )
    .await
    .fails(403, "SignatureDoesNotMatch", "SignatureDoesNotMatch");
    let stale = chrono::Utc::now() - chrono::Duration::minutes(20);
    signed(&app, &admin, "SendMessage", &send, stale, None)
        .await
        .fails(400, "RequestExpired", "RequestExpired");
    raw(
        &app,
        Some("SendMessage"),
        &send.to_string(),
        &[("Authorization", "AWS4-HMAC-SHA256 nonsense")],
    )
    .await
    .fails(400, "IncompleteSignature", "IncompleteSignature");
    // A bearer token is not an SQS credential.
    raw(
        &app,
        Some("SendMessage"),
        &send.to_string(),
        &[("Authorization", "Bearer pqq_x")],
    )
    .await
    .fails(400, "IncompleteSignature", "IncompleteSignature");
    call(&app, &admin, "SendMessage", send.clone()).await.ok();

    // Scopes as over REST: send on orders may send there, nothing else.
    let sender = token_with_key(&app, "sender", &["send:orders"]);
    call(&app, &sender, "SendMessage", send.clone()).await.ok();
    call(
        &app,
        &sender,
        "ReceiveMessage",
        json!({"QueueUrl": url(&app, "orders")}),
    )
    .await
    .fails(403, "AccessDenied", "AccessDenied");
    call(&app, &sender, "CreateQueue", json!({"QueueName": "other"}))
        .await
        .fails(403, "AccessDenied", "AccessDenied");
    call(&app, &sender, "ListQueues", json!({}))
        .await
        .fails(403, "AccessDenied", "AccessDenied");
    call(&app, &sender, "GetQueueUrl", json!({"QueueName": "orders"}))
        .await
        .ok();
    // A dead-letter queue or a move destination receives messages: managing the queue alone
    // does not allow naming another as one.
    let manager = token_with_key(&app, "manager", &["manage:mine"]);
    let policy = |target: &str| {
        json!({"RedrivePolicy": json!({"maxReceiveCount": 2,
            "deadLetterTargetArn": format!("arn:aws:sqs:us-east-1:000000000000:{target}")}).to_string()})
    };
    call(
        &app,
        &manager,
        "CreateQueue",
        json!({"QueueName": "mine", "Attributes": policy("orders")}),
    )
    .await
    .fails(403, "AccessDenied", "AccessDenied");
    call(&app, &manager, "CreateQueue", json!({"QueueName": "mine"}))
        .await
        .ok();
    call(
        &app,
        &manager,
        "SetQueueAttributes",
        json!({"QueueUrl": url(&app, "mine"), "Attributes": policy("orders")}),
    )
    .await
    .fails(403, "AccessDenied", "AccessDenied");
    call(
        &app,
        &manager,
        "StartMessageMoveTask",
        json!({"SourceArn": "arn:aws:sqs:us-east-1:000000000000:mine",
               "DestinationArn": "arn:aws:sqs:us-east-1:000000000000:orders"}),
    )
    .await
    .fails(403, "AccessDenied", "AccessDenied");
    let consumer = token_with_key(&app, "consumer", &["consume:orders"]);
    let got = call(
        &app,
        &consumer,
        "ReceiveMessage",
        json!({"QueueUrl": url(&app, "orders"), "MaxNumberOfMessages": 10}),
    )
    .await
    .ok();
    assert_eq!(got["Messages"].as_array().map(Vec::len), Some(2));
    let handle = got["Messages"][0]["ReceiptHandle"].clone();
    call(
        &app,
        &consumer,
        "DeleteMessage",
        json!({"QueueUrl": url(&app, "orders"), "ReceiptHandle": handle}),
    )
    .await
    .ok();

    // A new key replaces the old one.
    let (ok, out, err) = app.cli(&["token", "access-key", "consumer"]);
    assert!(ok, "access-key: {err}");
    let rotated = key_from(&out);
    assert_ne!(rotated.id, consumer.id);
    call(
        &app,
        &consumer,
        "GetQueueUrl",
        json!({"QueueName": "orders"}),
    )
    .await
    .fails(403, "InvalidClientTokenId", "InvalidClientTokenId");
    call(
        &app,
        &rotated,
        "GetQueueUrl",
        json!({"QueueName": "orders"}),
    )
    .await
    .ok();
    // Revoking the token revokes its key.
    let (ok, _, err) = app.cli(&["token", "revoke", "consumer"]);
    assert!(ok, "revoke: {err}");
    call(
        &app,
        &rotated,
        "GetQueueUrl",
        json!({"QueueName": "orders"}),
    )
    .await
    .fails(403, "InvalidClientTokenId", "InvalidClientTokenId");
    let (ok, _, err) = app.cli(&["token", "access-key", "consumer"]);
    assert!(
        !ok && err.contains("revoked"),
        "a revoked token gets no key: {err}"
    );
    let (ok, _, err) = app.cli(&["token", "access-key", "nobody"]);
    assert!(!ok && err.contains("not found"), "{err}");
    // REST tokens are unchanged: bearer auth still works beside.
    let token = app.token("rest", &["manage:*"]);
    let (status, _, _) = app
        .call_as(Some(&token), reqwest::Method::GET, "/v1/queues", None)
        .await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn with_auth_off_any_credentials_or_none_are_accepted() {
    let app = spawn_app().await;
    let made_up = Key {
        id: "AKIDEXAMPLE".into(),
        secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
    };
    call(&app, &made_up, "CreateQueue", json!({"QueueName": "q"}))
        .await
        .ok();
    raw(
        &app,
        Some("GetQueueUrl"),
        &json!({"QueueName": "q"}).to_string(),
        &[("Authorization", "whatever")],
    )
    .await
    .ok();
    raw(
        &app,
        Some("GetQueueUrl"),
        &json!({"QueueName": "q"}).to_string(),
        &[],
    )
    .await
    .ok();
    // Without --sqs, `token create` prints the token alone, as before.
    let (ok, out, err) = app.cli(&["token", "create", "--name", "plain", "--scope", "admin"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out:?}");
    app.stop().await;
}
