//! The plans receive and publish run with, as auto_explain logs them inside the functions, on
//! the stock server (jit on, default costs): no JIT compilation and no sort or full scan of the
//! backlog, at 1k and at 1M messages, and with 10k queues of 10 messages beside them (where a
//! generic plan guesses every queue at the average size: without receive's
//! `enable_bitmapscan = off`, the queue of 1,000 is then read whole and sorted), and for a queue
//! whose messages carry no label (where the old label test made the head look like one row).
//!
//! A structural check, not a timing. A positive control shows the check sees JIT when a plan's
//! cost is inflated, which is how receive once compiled itself on every call.

use psqlqueue_tests::TestDb;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_postgres::Client;
use tokio_postgres::error::DbError;

/// Session settings: every statement's plan, executed, as JSON, sent to this client.
const AUTO_EXPLAIN: &str = "LOAD 'auto_explain';
    SET auto_explain.log_min_duration = 0;
    SET auto_explain.log_nested_statements = on;
    SET auto_explain.log_analyze = on;
    SET auto_explain.log_timing = off;
    SET auto_explain.log_format = json;
    SET auto_explain.log_level = notice;
    SET client_min_messages = notice;";

/// A new session whose plans are logged to it (made with the statistics as they are now).
async fn explaining(db: &TestDb) -> (Client, UnboundedReceiver<DbError>) {
    let (client, notices) = db.connect_with_notices().await;
    client.batch_execute(AUTO_EXPLAIN).await.unwrap();
    (client, notices)
}

/// The plans logged since the last call, as JSON values with the statement text.
fn drain_plans(notices: &mut UnboundedReceiver<DbError>) -> Vec<Value> {
    let mut plans = Vec::new();
    while let Ok(notice) = notices.try_recv() {
        let message = notice.message();
        if let Some(start) = message.find('{') {
            let plan: Value = serde_json::from_str(&message[start..])
                .unwrap_or_else(|e| panic!("auto_explain JSON: {e}\n{message}"));
            plans.push(plan);
        }
    }
    plans
}

/// Every node of a plan tree, depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut out = vec![plan];
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for child in children {
            out.extend(nodes(child));
        }
    }
    out
}

fn text<'a>(node: &'a Value, key: &str) -> &'a str {
    node.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Asserts the rules for one logged plan whose statement contains `marker`; `most_rows` is the
/// most rows any sort may take in (the few rows the statement itself returns).
fn check(plans: &[Value], marker: &str, most_rows: f64, case: &str) {
    let logged: Vec<&Value> = plans
        .iter()
        .filter(|p| text(p, "Query Text").contains(marker))
        .collect();
    assert!(
        !logged.is_empty(),
        "{case}: no plan logged for a statement containing {marker:?}"
    );
    for plan in logged {
        assert!(plan.get("JIT").is_none(), "{case}: JIT compiled:\n{plan:#}");
        let cost = plan["Plan"]["Total Cost"].as_f64().unwrap_or(f64::MAX);
        assert!(
            cost < 100_000.0,
            "{case}: estimated cost {cost} would pass jit_above_cost:\n{plan:#}"
        );
        for node in nodes(&plan["Plan"]) {
            let kind = text(node, "Node Type");
            let relation = text(node, "Relation Name");
            assert!(
                !(relation == "messages" && matches!(kind, "Seq Scan" | "Bitmap Heap Scan")),
                "{case}: {kind} on messages:\n{plan:#}"
            );
            if kind == "Sort" {
                for child in node["Plans"].as_array().into_iter().flatten() {
                    let rows = child["Actual Rows"].as_f64().unwrap_or(0.0)
                        * child["Actual Loops"].as_f64().unwrap_or(1.0);
                    assert!(
                        rows <= most_rows,
                        "{case}: a sort over {rows} rows:\n{plan:#}"
                    );
                }
            }
        }
    }
}

/// Fills `queue` with `count` deliverable messages (direct inserts: a fixture), a tenth of
/// them labelled, and ANALYZEs, as autovacuum eventually would.
async fn fill(client: &Client, queue: &str, count: i64) {
    fill_labelled(client, queue, count, 10).await;
}

/// As `fill`, with one message in `every` labelled (0: none, as in most queues).
async fn fill_labelled(client: &Client, queue: &str, count: i64, every: i64) {
    client
        .execute(
            "INSERT INTO psqlqueue.messages (id, queue_id, label, body, visible_at, expires_at, created_at)
             SELECT psqlqueue.ulid(), $1, CASE WHEN i % nullif($3::bigint, 0) = 0 THEN 'red' END, 'payload',
                    now() - interval '1 minute', now() + interval '1 day', now()
               FROM generate_series(1, $2::bigint) AS i",
            &[&queue, &count, &every],
        )
        .await
        .expect("fill");
    client
        .batch_execute("ANALYZE psqlqueue.messages")
        .await
        .unwrap();
}

/// Runs receive and publish a few times each and checks every plan they logged.
async fn check_hot_paths(
    client: &Client,
    notices: &mut UnboundedReceiver<DbError>,
    queue: &str,
    case: &str,
) {
    drain_plans(notices);
    for (label, limit) in [("NULL", 1), ("NULL", 10), ("'red'", 10), ("NULL", 1000)] {
        // Several calls: a plan cache that switches plans after the fifth call is seen too.
        for _ in 0..7 {
            client
                .batch_execute(&format!(
                    "SELECT count(*) FROM psqlqueue.receive('{queue}', {label}, {limit})"
                ))
                .await
                .unwrap();
        }
        let plans = drain_plans(notices);
        check(
            &plans,
            "WITH head AS",
            f64::from(limit),
            &format!("{case}, receive label {label} limit {limit}"),
        );
    }
    for _ in 0..7 {
        client
            .batch_execute("SELECT psqlqueue.publish('events', 'hello', '{\"kind\": \"a\"}', NULL)")
            .await
            .unwrap();
    }
    let plans = drain_plans(notices);
    check(
        &plans,
        "INSERT INTO psqlqueue.messages",
        0.0,
        &format!("{case}, publish"),
    );
}

/// The sweep deletes what it picked by primary-key probes, (queue_id, id) pairs, however many
/// messages live beside the expired ones.
async fn check_sweep(client: &Client, notices: &mut UnboundedReceiver<DbError>) {
    client
        .batch_execute(
            "INSERT INTO psqlqueue.messages (id, queue_id, body, visible_at, expires_at, created_at)
             SELECT psqlqueue.ulid(), 'small-' || (i % 100 + 1), 'x', now() - interval '2 days',
                    now() - interval '1 day', now() - interval '2 days'
               FROM generate_series(1, 7000) AS i",
        )
        .await
        .unwrap();
    drain_plans(notices);
    for _ in 0..7 {
        let removed: i32 = client
            .query_one("SELECT psqlqueue.sweep(1000)", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(removed, 1000, "each batch removes its full share");
    }
    let plans = drain_plans(notices);
    check(
        &plans,
        "USING unnest(queue_ids, ids)",
        0.0,
        "sweep beside 1M messages",
    );
}

/// A queue of 1,000 active groups of 20 messages each (one head per group deliverable, the rest
/// parked behind it): receive reads heads only, with no sort or scan of the parked backlog.
async fn check_groups(db: &TestDb) {
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('fifo', 3600, 86400);
             INSERT INTO psqlqueue.messages (id, queue_id, body, visible_at, expires_at, created_at, group_id)
             SELECT psqlqueue.ulid(), 'fifo', 'x', now() - interval '1 minute', now() + interval '1 day', now(),
                    'g' || (i % 1000)
               FROM generate_series(1, 20000) AS i;
             ANALYZE psqlqueue.messages;",
        )
        .await
        .unwrap();
    let parked: i64 = client
        .query_one(
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'fifo' AND visible_at = 'infinity'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(parked, 19_000, "all but each group's head are parked");
    drop(client);
    let (client, mut notices) = explaining(db).await;
    drain_plans(&mut notices);
    for _ in 0..7 {
        let got = client
            .query("SELECT * FROM psqlqueue.receive('fifo', NULL, 10)", &[])
            .await
            .unwrap();
        assert_eq!(got.len(), 10);
    }
    let plans = drain_plans(&mut notices);
    check(
        &plans,
        "WITH head AS",
        10.0,
        "receive from 1,000 groups of 20",
    );
}

/// A queue whose messages carry no label, the common case, with nothing else in the table:
/// receive's generic plan once guessed its head at one row (the label test, `label IS NULL OR
/// label = $1`, looked nearly never true when no message has a label) and so read the whole
/// table and sorted it on every call, from about a hundred to a few thousand messages. The
/// cases are 1k and 2k messages, where 0.9.0 sorted all of them; only limits 1 and 10 can see it.
#[tokio::test]
async fn receive_plans_hold_for_a_queue_without_labels() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('plain', 3600, 86400);
             SELECT psqlqueue.create_topic('events');
             SELECT psqlqueue.create_queue('fan-' || i, 30, 600) FROM generate_series(1, 10) AS i;
             SELECT psqlqueue.create_subscription('s' || i, 'events', 'fan-' || i) FROM generate_series(1, 10) AS i;",
        )
        .await
        .unwrap();
    for (count, case) in [
        (1_000, "1k unlabelled messages"),
        (1_000, "2k unlabelled messages, 1k of them leased"),
    ] {
        fill_labelled(&client, "plain", count, 0).await;
        let (session, mut notices) = explaining(&db).await;
        check_hot_paths(&session, &mut notices, "plain", case).await;
    }
    drop(client);
    db.drop_db().await;
}

#[tokio::test]
async fn receive_and_publish_plans_hold_from_1k_to_1m_messages_on_a_stock_server() {
    let db = TestDb::new().await;
    let (client, mut notices) = explaining(&db).await;
    let jit: String = client.query_one("SHOW jit", &[]).await.unwrap().get(0);
    assert_eq!(
        jit, "on",
        "the server must run with stock settings (jit on)"
    );
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('deep', 3600, 86400);
             SELECT psqlqueue.create_topic('events');
             SELECT psqlqueue.create_queue('fan-' || i, 30, 600) FROM generate_series(1, 10) AS i;
             SELECT psqlqueue.create_subscription('s' || i, 'events', 'fan-' || i,
                        CASE WHEN i % 2 = 0 THEN '{\"kind\": [\"a\"]}'::jsonb END)
               FROM generate_series(1, 10) AS i;",
        )
        .await
        .unwrap();

    // The check itself can fail: an inflated cost (the old `enable_sort = off`) is JIT-compiled
    // and this test sees it.
    client
        .batch_execute(
            "SET enable_sort = off;
             SELECT x * 2 AS y FROM generate_series(1, 3) AS x WHERE x > 0 ORDER BY 1;
             RESET enable_sort;",
        )
        .await
        .unwrap();
    let control = drain_plans(&mut notices);
    assert!(
        control
            .iter()
            .any(|p| text(p, "Query Text").contains("x * 2") && p.get("JIT").is_some()),
        "positive control: an inflated plan must show JIT here: {control:#?}"
    );

    fill(&client, "deep", 1_000).await;
    check_hot_paths(&client, &mut notices, "deep", "1k messages").await;

    // 10k queues of 10 messages and a queue of 1,000: the average queue is now tiny, the ones
    // being read are not.
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('mid', 3600, 86400);
             INSERT INTO psqlqueue.queues (id, ack_deadline_seconds, message_retention_seconds)
             SELECT 'small-' || i, 30, 86400 FROM generate_series(1, 10000) AS i;
             INSERT INTO psqlqueue.messages (id, queue_id, body, visible_at, expires_at, created_at)
             SELECT psqlqueue.ulid(), 'small-' || i, 'x', now(), now() + interval '1 day', now()
               FROM generate_series(1, 10000) AS i, generate_series(1, 10);",
        )
        .await
        .unwrap();
    fill(&client, "mid", 1_000).await;
    // A new session after each fill: its plans are made with the new statistics.
    drop(client);
    let (client, mut notices) = explaining(&db).await;
    check_hot_paths(
        &client,
        &mut notices,
        "mid",
        "1k messages beside 10k small queues",
    )
    .await;
    check_hot_paths(
        &client,
        &mut notices,
        "deep",
        "another 1k beside 10k small queues",
    )
    .await;

    fill(&client, "deep", 999_000).await;
    drop(client);
    let (client, mut notices) = explaining(&db).await;
    check_hot_paths(
        &client,
        &mut notices,
        "deep",
        "1M messages beside 10k small queues",
    )
    .await;
    check_sweep(&client, &mut notices).await;
    check_groups(&db).await;

    drop(client);
    db.drop_db().await;
}
