//! Group commit (batch/): concurrent sends, publishes, acks and nacks of one queue share a
//! transaction, and each request still gets its own answer, exactly as alone: a bad one among
//! good ones is refused alone, a client's order is kept, nothing answered 201 is missing after
//! a database restart, stale and repeated acks answer as they would one by one, and a
//! shutdown answers what was waiting.

use crate::helpers::{TestApp, create_queue, spawn_app_on, spawn_app_with};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batching at its default, whatever the environment of the test run says (the suite also runs
/// with `PSQLQUEUE_BATCH_MAX_WAIT_MICROS=0` exported, to check the unbatched path).
const BATCHED: (&str, &str) = ("PSQLQUEUE_BATCH_MAX_WAIT_MICROS", "500");

/// Starts a sidecar with batching on.
async fn spawn_batched() -> TestApp {
    spawn_app_with(&[BATCHED]).await
}

/// A body the extension refuses (22023): send_batch names its element, a lone send words the
/// error as its own.
fn invalid_body(kind: usize) -> String {
    match kind % 2 {
        0 => json!({"body": "b", "attributes": {"n": 1}}).to_string(),
        _ => json!({"body": "b", "label": "l".repeat(129)}).to_string(),
    }
}

/// POSTs `body` to `url`; the status and the JSON answer (Null when none or unreadable).
async fn post(http: reqwest::Client, url: String, body: String) -> (u16, Value) {
    let response = http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json)
}

/// PUTs `body` (JSON) to `url`; the status and the JSON answer (Null when none).
async fn put(http: reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let response = http
        .put(url)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json)
}

/// The sidecar's batch-size histogram for `kind`: (batches, requests in them).
async fn batches(app: &TestApp, kind: &str) -> (f64, f64) {
    let count = app
        .metric(&format!("psqlqueue_batch_size_count{{kind=\"{kind}\"}}"))
        .await
        .expect("batch size count exported");
    let sum = app
        .metric(&format!("psqlqueue_batch_size_sum{{kind=\"{kind}\"}}"))
        .await
        .expect("batch size sum exported");
    (count, sum)
}

/// Ids and bodies of a queue's messages, in receive order (visible_at, then id).
async fn stored(app: &TestApp, queue: &str) -> Vec<(String, String)> {
    app.db()
        .connect()
        .await
        .query(
            "SELECT id, body FROM psqlqueue.messages WHERE queue_id = $1 ORDER BY visible_at, id",
            &[&queue],
        )
        .await
        .expect("messages")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn sixty_four_clients_with_bad_bodies_mixed_in_each_get_their_own_answer() {
    const CLIENTS: usize = 64;
    const SENDS: usize = 200;
    let app = spawn_batched().await;
    create_queue(&app, "q", 30).await;
    // What each invalid body answers alone, to hold the batched answers to.
    let mut alone = Vec::new();
    for kind in 0..2 {
        let (status, json) = app.post("/v1/queues/q/messages", &invalid_body(kind)).await;
        assert_eq!(status, 400, "{json}");
        alone.push(json);
    }
    let url = format!("{}/v1/queues/q/messages", app.base);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, url, alone) = (app.http.clone(), url.clone(), alone.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for i in 0..SENDS {
                    // A few bad ones per client, at places that differ between clients.
                    if (i + client) % 61 == 0 {
                        let kind = client + i;
                        let (status, json) =
                            post(http.clone(), url.clone(), invalid_body(kind)).await;
                        assert_eq!(status, 400, "{json}");
                        assert_eq!(json, alone[kind % 2], "worded as alone");
                        continue;
                    }
                    let body = format!("c{client}-{i}");
                    let (status, json) =
                        post(http.clone(), url.clone(), json!({"body": body}).to_string()).await;
                    assert_eq!(status, 201, "{json}");
                    let id = json["id"].as_str().expect("an id").to_owned();
                    sent.push((id, body));
                }
                sent
            })
        })
        .collect();
    let mut answered = HashMap::new();
    for task in tasks {
        for (id, body) in task.await.expect("a client") {
            assert!(answered.insert(id, body).is_none(), "ids are unique");
        }
    }
    // Every 201's id holds its body, and nothing else was stored.
    let rows: HashMap<String, String> = stored(&app, "q").await.into_iter().collect();
    assert_eq!(rows, answered);
    let refused = (0..CLIENTS)
        .flat_map(|c| (0..SENDS).filter(move |i| (i + c) % 61 == 0))
        .count();
    assert_eq!(answered.len(), CLIENTS * SENDS - refused);
    // They were batched.
    let (count, sum) = batches(&app, "send").await;
    assert!(
        count < sum,
        "sends were grouped: {count} batches for {sum} sends"
    );
    app.stop().await;
}

/// Holds an exclusive lock on the queues table in its own open transaction: every send waits.
async fn lock_queues(app: &TestApp) -> tokio_postgres::Client {
    let locker = app.db().connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE psqlqueue.queues IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    locker
}

/// Waits until `n` sends of the app's database wait for a lock.
async fn wait_for_waiters(app: &TestApp, n: i64) {
    // Only sends: the sweeper or the dashboard's sampler may wait on the lock too.
    let client = app.db().connect().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'
                    AND query LIKE 'SELECT psqlqueue.send%'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{waiting} waiting, not {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_bad_send_in_a_batch_is_refused_alone_and_the_rest_are_written_by_a_retry() {
    // A wait long enough that the five below surely form one batch behind the first.
    let app = spawn_app_with(&[("PSQLQUEUE_BATCH_MAX_WAIT_MICROS", "100000")]).await;
    create_queue(&app, "q", 30).await;
    let locker = lock_queues(&app).await;
    let url = format!("{}/v1/queues/q/messages", app.base);
    let first = tokio::spawn(post(
        app.http.clone(),
        url.clone(),
        json!({"body": "first"}).to_string(),
    ));
    wait_for_waiters(&app, 1).await;
    let bodies = [
        json!({"body": "a"}).to_string(),
        invalid_body(0),
        json!({"body": "b"}).to_string(),
        invalid_body(1),
        json!({"body": "c"}).to_string(),
    ];
    let batch: Vec<_> = bodies
        .iter()
        .map(|body| tokio::spawn(post(app.http.clone(), url.clone(), body.clone())))
        .collect();
    // The batch starts at its deadline and waits for the lock too.
    wait_for_waiters(&app, 2).await;
    // (The bad ones may be answered already: refused by the checks, before any lock.)
    assert!(!batch[0].is_finished() && !batch[2].is_finished() && !batch[4].is_finished());
    drop(locker);
    assert_eq!(first.await.expect("first").0, 201);
    let mut answers = Vec::new();
    for task in batch {
        answers.push(task.await.expect("a send"));
    }
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [201, 400, 201, 400, 201]);
    for (kind, index) in [(0, 1), (1, 3)] {
        let (status, alone) = app.post("/v1/queues/q/messages", &invalid_body(kind)).await;
        assert_eq!(status, 400);
        assert_eq!(answers[index].1, alone, "worded as alone");
    }
    assert_eq!(answers[1].1["code"], 3);
    // Written once each: the first, then the batch (in the order its requests arrived).
    let bodies: Vec<String> = stored(&app, "q").await.into_iter().map(|r| r.1).collect();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert_eq!(bodies[0], "first");
    let rest: HashSet<&str> = bodies[1..].iter().map(String::as_str).collect();
    assert_eq!(rest, HashSet::from(["a", "b", "c"]));
    // One batch of five (the first ran alone), and the two bad ones were retried alone.
    assert_eq!(batches(&app, "send").await, (4.0, 8.0));
    let le_4 = app
        .metric("psqlqueue_batch_size_bucket{kind=\"send\",le=\"4\"}")
        .await;
    assert_eq!(le_4, Some(3.0), "the batch of five is above 4");
    assert_eq!(
        app.metric("psqlqueue_batch_retried_requests_total{kind=\"send\"}")
            .await,
        Some(2.0)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_send_waiting_on_a_lock_fails_alone_not_with_its_batch() {
    // An open SQL transaction holds deduplication id "k" (an outbox writing in its own
    // transaction): sends repeating it wait for that lock until the lock timeout. A batch that
    // holds one of them rolls back with 55P03; its other requests must still be written.
    let app = spawn_app_with(&[("PSQLQUEUE_BATCH_MAX_WAIT_MICROS", "100000")]).await;
    create_queue(&app, "q", 30).await;
    let holder = app.db().connect().await;
    holder
        .batch_execute("BEGIN; SELECT psqlqueue.send('q', 'held', deduplication_id => 'k')")
        .await
        .expect("hold k");
    let url = format!("{}/v1/queues/q/messages", app.base);
    let send = |body: Value| tokio::spawn(post(app.http.clone(), url.clone(), body.to_string()));
    // Alone (the lane is idle), it waits on k; the three behind it form a batch.
    let first = send(json!({"body": "first", "deduplication_id": "k"}));
    wait_for_waiters(&app, 1).await;
    let batch = [
        send(json!({"body": "a"})),
        send(json!({"body": "repeat", "deduplication_id": "k"})),
        send(json!({"body": "b"})),
    ];
    wait_for_waiters(&app, 2).await;
    let mut statuses = Vec::new();
    for task in batch {
        statuses.push(task.await.expect("a send").0);
    }
    assert_eq!(
        statuses,
        [201, 503, 201],
        "only the send waiting on k fails"
    );
    assert_eq!(first.await.expect("first").0, 503);
    holder.batch_execute("ROLLBACK").await.expect("rollback");
    let bodies: HashSet<String> = stored(&app, "q").await.into_iter().map(|r| r.1).collect();
    assert_eq!(bodies, HashSet::from(["a".to_owned(), "b".to_owned()]));
    app.stop().await;
}

#[tokio::test]
async fn each_client_sees_its_sends_in_its_order() {
    const CLIENTS: usize = 8;
    const SENDS: usize = 150;
    let app = spawn_batched().await;
    create_queue(&app, "order", 30).await;
    let url = format!("{}/v1/queues/order/messages", app.base);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, url) = (app.http.clone(), url.clone());
            tokio::spawn(async move {
                for i in 0..SENDS {
                    let body = json!({"body": format!("{client}:{i}")}).to_string();
                    assert_eq!(post(http.clone(), url.clone(), body).await.0, 201);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a client");
    }
    // In receive's order, each client's messages come in the order it sent them.
    let mut seen: Vec<Vec<usize>> = vec![Vec::new(); CLIENTS];
    for (_, body) in stored(&app, "order").await {
        let (client, i) = body.split_once(':').expect("client:i");
        seen[client.parse::<usize>().expect("client")].push(i.parse().expect("i"));
    }
    for (client, order) in seen.iter().enumerate() {
        assert_eq!(*order, (0..SENDS).collect::<Vec<_>>(), "client {client}");
    }
    // And through the API: receiving everything gives each client's messages in order.
    let mut received: Vec<Vec<usize>> = vec![Vec::new(); CLIENTS];
    loop {
        let (status, json) = app.get("/v1/queues/order/messages?limit=10").await;
        assert_eq!(status, 200);
        let data = json["data"].as_array().expect("data").clone();
        if data.is_empty() {
            break;
        }
        for message in data {
            let body = message["body"].as_str().expect("body");
            let (client, i) = body.split_once(':').expect("client:i");
            received[client.parse::<usize>().expect("client")].push(i.parse().expect("i"));
        }
    }
    assert_eq!(received, seen);
    let (count, sum) = batches(&app, "send").await;
    assert!(count < sum, "{count} batches for {sum} sends");
    app.stop().await;
}

#[tokio::test]
async fn a_lone_client_never_waits_for_a_batch() {
    let app = spawn_batched().await;
    create_queue(&app, "q", 30).await;
    for i in 0..50 {
        let (status, _) = app
            .post(
                "/v1/queues/q/messages",
                &json!({"body": format!("m{i}")}).to_string(),
            )
            .await;
        assert_eq!(status, 201);
    }
    // Fifty batches of one, none of which waited.
    assert_eq!(batches(&app, "send").await, (50.0, 50.0));
    assert_eq!(
        app.metric("psqlqueue_batch_wait_seconds_sum{kind=\"send\"}")
            .await,
        Some(0.0)
    );
    app.stop().await;
}

#[tokio::test]
async fn batched_acks_answer_stale_receipts_409_and_repeated_acks_once() {
    const MESSAGES: usize = 200;
    let app = spawn_app_with(&[BATCHED, ("PSQLQUEUE_QUEUE_MAX_NUMBER_OF_MESSAGES", "1000")]).await;
    create_queue(&app, "q", 300).await;
    let messages: Vec<Value> = (0..MESSAGES)
        .map(|i| json!({"body": format!("m{i}")}))
        .collect();
    let (status, _) = app
        .post(
            "/v1/queues/q/messages/batch",
            &json!({"messages": messages}).to_string(),
        )
        .await;
    assert_eq!(status, 201);
    let receive = |limit: usize| {
        let app = &app;
        async move {
            let (status, json) = app
                .get(&format!("/v1/queues/q/messages?limit={limit}"))
                .await;
            assert_eq!(status, 200);
            json["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|m| {
                    let id = m["id"].as_str().expect("id").to_owned();
                    (id, m["receipt"].as_str().expect("receipt").to_owned())
                })
                .collect::<Vec<_>>()
        }
    };
    let first = receive(MESSAGES).await;
    assert_eq!(first.len(), MESSAGES);
    // Messages 0..40 are given back and delivered again: their first receipts are stale.
    for (id, receipt) in &first[..40] {
        let (status, json) = app
            .put(
                &format!("/v1/queues/q/messages/{id}/nack"),
                Some(&json!({"receipt": receipt}).to_string()),
            )
            .await;
        assert_eq!(status, 204, "{json}");
    }
    let again: HashMap<String, String> = receive(40).await.into_iter().collect();
    assert_eq!(again.len(), 40);
    let base = app.base.clone();
    let ack = move |id: &str, receipt: &str| {
        let http = reqwest::Client::new();
        let url = format!("{base}/v1/queues/q/messages/{id}/ack");
        let body = json!({"receipt": receipt});
        async move { put(http, url, body).await }
    };
    // At once: stale acks of 0..40, fresh acks of 0..20 (so 0..20 race their stale ones),
    // valid acks of 40..200, and for 40..80 two more acks of the same delivery.
    let mut calls = Vec::new();
    for (i, (id, receipt)) in first.iter().enumerate() {
        calls.push((i, "stale_or_valid", tokio::spawn(ack(id, receipt))));
        if i < 20 {
            calls.push((i, "fresh", tokio::spawn(ack(id, &again[id]))));
        }
        if (40..80).contains(&i) {
            for _ in 0..2 {
                calls.push((i, "repeat", tokio::spawn(ack(id, receipt))));
            }
        }
    }
    let mut by_message: HashMap<usize, Vec<(&str, u16, Value)>> = HashMap::new();
    for (i, what, call) in calls {
        let (status, json) = call.await.expect("an ack");
        by_message.entry(i).or_default().push((what, status, json));
    }
    for (i, answers) in &by_message {
        let (id, _) = &first[*i];
        let lease_lost = json!({"code": 11, "message": "lease not held",
            "details": format!("the lease on message \"{id}\" in queue \"q\" is no longer held")});
        let not_found = json!({"code": 6, "message": "message not found",
            "details": format!("message \"{id}\" not found in queue \"q\"")});
        let statuses: Vec<u16> = answers.iter().map(|a| a.1).collect();
        match i {
            // Its stale ack is 409, or 404 when the fresh one has removed it already.
            0..20 => {
                for (what, status, json) in answers {
                    match *what {
                        "fresh" => assert_eq!(*status, 204, "{json}"),
                        _ => assert!(
                            (*status == 409 && *json == lease_lost)
                                || (*status == 404 && *json == not_found),
                            "stale: {status} {json}"
                        ),
                    }
                }
            }
            // Stale alone: 409, as a lone ack words it.
            20..40 => {
                assert_eq!(statuses, [409]);
                assert_eq!(answers[0].2, lease_lost);
            }
            // Three acks of one delivery: one acks it, the others find it gone.
            40..80 => {
                assert_eq!(
                    statuses.iter().filter(|&&s| s == 204).count(),
                    1,
                    "{answers:?}"
                );
                for (_, status, json) in answers.iter().filter(|a| a.1 != 204) {
                    assert_eq!((*status, json), (404, &not_found));
                }
            }
            _ => assert_eq!(statuses, [204]),
        }
    }
    // Left: 20..40, acked by nobody.
    let left: HashSet<String> = stored(&app, "q").await.into_iter().map(|r| r.0).collect();
    let expected: HashSet<String> = first[20..40].iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(left, expected);
    let (count, sum) = batches(&app, "ack").await;
    assert!(count < sum, "acks were grouped: {count} batches for {sum}");
    // Batched nacks: give the 20 back at once (their second deliveries), one of them twice.
    let leased: Vec<(String, String)> = first[20..40]
        .iter()
        .map(|(id, _)| (id.clone(), again[id].clone()))
        .collect();
    let base = app.base.clone();
    let nacks: Vec<_> = leased
        .iter()
        .chain(leased.iter().take(1))
        .map(|(id, receipt)| {
            let http = reqwest::Client::new();
            let url = format!("{base}/v1/queues/q/messages/{id}/nack");
            let body = json!({"receipt": receipt, "visibility_timeout_seconds": 0});
            tokio::spawn(async move { put(http, url, body).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for nack in nacks {
        statuses.push(nack.await.expect("a nack"));
    }
    statuses.sort_unstable();
    let mut expected = vec![204; 20];
    expected.push(409);
    assert_eq!(
        statuses, expected,
        "the repeated nack finds its lease given back"
    );
    assert_eq!(receive(100).await.len(), 20, "all deliverable again");
    app.stop().await;
}

#[tokio::test]
async fn batched_publishes_each_get_their_count_or_their_own_error() {
    let app = spawn_batched().await;
    create_queue(&app, "a", 30).await;
    create_queue(&app, "b", 30).await;
    assert_eq!(app.post("/v1/topics", r#"{"id": "t"}"#).await.0, 201);
    for queue in ["a", "b"] {
        let body = json!({"id": format!("s-{queue}"), "topic_id": "t", "queue_id": queue});
        assert_eq!(
            app.post("/v1/subscriptions", &body.to_string()).await.0,
            201
        );
    }
    let (status, alone) = app.post("/v1/topics/t/messages", &invalid_body(0)).await;
    assert_eq!(status, 400);
    let url = format!("{}/v1/topics/t/messages", app.base);
    let tasks: Vec<_> = (0..32)
        .map(|client| {
            let (http, url, alone) = (app.http.clone(), url.clone(), alone.clone());
            tokio::spawn(async move {
                let mut published = 0;
                for i in 0..40 {
                    if (i + client) % 13 == 0 {
                        let (status, json) = post(http.clone(), url.clone(), invalid_body(0)).await;
                        assert_eq!((status, &json), (400, &alone));
                    } else {
                        let body = json!({"body": format!("{client}:{i}")}).to_string();
                        let (status, json) = post(http.clone(), url.clone(), body).await;
                        assert_eq!((status, &json), (201, &json!({"delivered": 2})));
                        published += 1;
                    }
                }
                published
            })
        })
        .collect();
    let mut published = 0;
    for task in tasks {
        published += task.await.expect("a publisher");
    }
    for queue in ["a", "b"] {
        assert_eq!(stored(&app, queue).await.len(), published, "queue {queue}");
    }
    let (count, sum) = batches(&app, "publish").await;
    assert!(
        count < sum,
        "publishes were grouped: {count} batches for {sum}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_shutdown_answers_the_requests_waiting_in_a_batch() {
    let mut app = spawn_app_with(&[("PSQLQUEUE_BATCH_MAX_WAIT_MICROS", "100000")]).await;
    create_queue(&app, "q", 30).await;
    let locker = lock_queues(&app).await;
    let url = format!("{}/v1/queues/q/messages", app.base);
    // Each send: its status, or None when it never reached the server (one that connects
    // after the shutdown began is refused, as it should be: only the accepted must be answered).
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let (http, url) = (reqwest::Client::new(), url.clone());
            tokio::spawn(async move {
                match http
                    .post(url)
                    .header("Content-Type", "application/json")
                    .body(json!({"body": format!("{i}")}).to_string())
                    .send()
                    .await
                {
                    Ok(response) => Some(response.status().as_u16()),
                    Err(error) if error.is_connect() => None,
                    Err(error) => panic!("a send accepted but not answered: {error}"),
                }
            })
        })
        .collect();
    // The first send alone and a batch behind it wait on the lock: both were accepted.
    wait_for_waiters(&app, 2).await;
    app.signal_terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(locker);
    let mut answered = 0;
    for send in sends {
        if let Some(status) = send.await.expect("a send") {
            assert_eq!(status, 201);
            answered += 1;
        }
    }
    assert!(answered >= 2, "the waiting sends were answered: {answered}");
    assert!(app.wait_exit(), "a clean exit");
    assert_eq!(
        stored(&app, "q").await.len(),
        answered,
        "every 201 stored, nothing else"
    );
    app.stop().await;
}

/// The private cluster `make test` starts (scripts/preload-cluster.sh), which this test may
/// restart: the shared server on 5432 is never restarted.
fn restartable_admin_url() -> String {
    std::env::var("PSQLQUEUE_TEST_PRELOAD_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 port=54331 user=postgres dbname=postgres".to_owned())
}

#[tokio::test]
async fn across_a_database_restart_every_201_is_stored_and_deduplicated_retries_store_once() {
    const CLIENTS: usize = 32;
    let _restarting = crate::helpers::RESTARTS.lock().await;
    let admin_url = restartable_admin_url();
    let name = format!("psqlqueue_batch_restart_{}", std::process::id());
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("the preloaded cluster (make test starts it)");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .expect("drop a leftover database");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    drop(admin);
    let url = format!("{admin_url} dbname={name}");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute("CREATE EXTENSION psqlqueue; SELECT psqlqueue.create_queue('q', 30, 600)")
        .await
        .expect("extension");
    drop(client);
    let app = spawn_app_on(&url, &[BATCHED, ("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "0")]).await;

    // Each client sends its messages one after another. Even clients give each a
    // deduplication id and retry it until it is answered 201 (the README's advice for a 503);
    // odd ones send each attempt as a new message, so a batch the sidecar wrote twice would
    // show as a body stored twice.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (url, stop) = (
                format!("{}/v1/queues/q/messages", app.base),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let (mut answered, mut unavailable) = (Vec::new(), 0);
                let mut i = 0;
                let deduplicated = client.is_multiple_of(2);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut attempt = 0;
                    loop {
                        let body = if deduplicated {
                            format!("{client}:{i}")
                        } else {
                            format!("{client}:{i}:{attempt}")
                        };
                        attempt += 1;
                        let request = if deduplicated {
                            json!({"body": body, "deduplication_id": body})
                        } else {
                            json!({"body": body})
                        };
                        let sent = http
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .body(request.to_string())
                            .send()
                            .await;
                        let Ok(response) = sent else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        };
                        let status = response.status().as_u16();
                        let json: Value = response.json().await.unwrap_or(Value::Null);
                        match status {
                            201 => {
                                answered.push((json["id"].as_str().expect("id").to_owned(), body));
                                break;
                            }
                            503 => {
                                unavailable += 1;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            other => panic!("only 201 and 503, got {other}: {json}"),
                        }
                    }
                    i += 1;
                }
                (answered, unavailable)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/preload-cluster.sh");
    let restarted = tokio::process::Command::new("bash")
        .args([script, "restart"])
        .status()
        .await
        .expect("run the restart");
    assert!(restarted.success(), "pg_ctl restart");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = HashMap::new();
    let mut unavailable = 0;
    for sender in senders {
        let (ids, refused) = sender.await.expect("a client");
        unavailable += refused;
        for (id, body) in ids {
            answered.insert(id, body);
        }
    }
    // Every 201 is stored under its id. A deduplicated message is stored exactly once (a retry
    // of a send whose commit went unanswered found its deduplication id); no other is stored
    // twice (the sidecar never ran a batch again after losing its answer); what is stored
    // beyond the 201s are sends answered 503 that committed all the same, at most one per 503.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let rows: HashMap<String, String> = client
        .query(
            "SELECT id, body FROM psqlqueue.messages WHERE queue_id = 'q'",
            &[],
        )
        .await
        .expect("messages")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert!(unavailable > 0, "the restart was felt");
    for (id, body) in &answered {
        assert_eq!(rows.get(id), Some(body), "answered 201, stored");
    }
    let mut bodies = HashSet::new();
    for (id, body) in &rows {
        assert!(bodies.insert(body), "{body} stored twice");
        let client: usize = body
            .split(':')
            .next()
            .and_then(|c| c.parse().ok())
            .expect("client");
        if client.is_multiple_of(2) {
            assert!(
                answered.contains_key(id),
                "{body}: deduplicated, stored only as answered"
            );
        }
    }
    let extra = rows.len() - answered.len();
    assert!(
        extra <= unavailable,
        "{extra} stored beyond the 201s, {unavailable} 503s"
    );
    assert!(answered.len() > CLIENTS, "sends went through");
    let (count, sum) = batches(&app, "send").await;
    assert!(count < sum, "{count} batches for {sum} sends");
    app.stop().await;
    drop(client);
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

#[tokio::test]
async fn with_batching_off_every_request_runs_alone() {
    let app = spawn_app_with(&[("PSQLQUEUE_BATCH_MAX_WAIT_MICROS", "0")]).await;
    create_queue(&app, "q", 30).await;
    let url = format!("{}/v1/queues/q/messages", app.base);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let body = json!({"body": format!("{i}")}).to_string();
            tokio::spawn(post(app.http.clone(), url.clone(), body))
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("a send").0, 201);
    }
    assert_eq!(batches(&app, "send").await, (0.0, 0.0), "no batch at all");
    assert_eq!(stored(&app, "q").await.len(), 16);
    // The settings' bounds.
    app.stop().await;
}

#[test]
fn the_batch_settings_are_bounded() {
    for (name, value) in [
        ("PSQLQUEUE_BATCH_MAX_SIZE", "0"),
        ("PSQLQUEUE_BATCH_MAX_SIZE", "1001"),
        ("PSQLQUEUE_BATCH_MAX_WAIT_MICROS", "100001"),
        ("PSQLQUEUE_BATCH_MAX_WAIT_MICROS", "-1"),
    ] {
        // Refused by the settings' parser, before any connection is tried.
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_psqlqueue"))
            .arg("server")
            .env(
                "PSQLQUEUE_DATABASE_URL",
                "host=127.0.0.1 port=1 connect_timeout=1",
            )
            .env(name, value)
            .output()
            .expect("run psqlqueue");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}={value}: {err}");
        let flag = name["PSQLQUEUE_".len()..].to_lowercase().replace('_', "-");
        assert!(err.contains(&flag), "{name}={value}: {err}");
    }
}
