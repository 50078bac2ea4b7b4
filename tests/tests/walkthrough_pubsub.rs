//! The seed walkthrough's pub/sub part, in SQL: an orders topic, an all-orders queue and a
//! processed-orders queue filtered on status, two publishes.

use psqlqueue_tests::TestDb;
use serde_json::{Value, json};

#[tokio::test]
async fn walkthrough_pubsub_in_sql() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            r#"SELECT psqlqueue.create_topic('orders');
               SELECT psqlqueue.create_queue('all-orders', 30, 1209600, 0);
               SELECT psqlqueue.create_queue('processed-orders', 30, 1209600, 0);
               SELECT psqlqueue.create_subscription('orders-to-all-orders', 'orders', 'all-orders');
               SELECT psqlqueue.create_subscription('orders-to-processed-orders', 'orders', 'processed-orders',
                                                    '{"status": ["processed"]}');"#,
        )
        .await
        .unwrap();
    let publish = "SELECT psqlqueue.publish('orders', 'body-of-the-order', $1::jsonb)";
    let first: i32 = client
        .query_one(publish, &[&json!({"status": "created"})])
        .await
        .unwrap()
        .get(0);
    let second: i32 = client
        .query_one(publish, &[&json!({"status": "processed"})])
        .await
        .unwrap()
        .get(0);
    assert_eq!((first, second), (1, 2));

    let receive =
        "SELECT queue_id, label, body, attributes, delivery_attempts FROM psqlqueue.receive($1)";
    let all = client.query(receive, &[&"all-orders"]).await.unwrap();
    let statuses: Vec<Value> = all
        .iter()
        .map(|r| r.get::<_, Value>(3)["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![json!("created"), json!("processed")],
        "both, in publish order"
    );
    for row in &all {
        assert_eq!(row.get::<_, String>(0), "all-orders");
        assert_eq!(row.get::<_, Option<String>>(1), None);
        assert_eq!(row.get::<_, String>(2), "body-of-the-order");
        assert_eq!(row.get::<_, i32>(4), 1);
    }
    let processed = client.query(receive, &[&"processed-orders"]).await.unwrap();
    assert_eq!(processed.len(), 1);
    assert_eq!(
        processed[0].get::<_, Value>(3),
        json!({"status": "processed"})
    );

    let filters: Option<Value> = client
        .query_one(
            "SELECT message_filters FROM psqlqueue.get_subscription('orders-to-all-orders')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(filters, None);
    db.drop_db().await;
}

#[tokio::test]
async fn rolled_back_publish_reaches_no_queue() {
    let db = TestDb::new().await;
    let mut client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_topic('t');
             SELECT psqlqueue.create_queue('q1', 30, 600), psqlqueue.create_queue('q2', 30, 600);
             SELECT psqlqueue.create_subscription('s1', 't', 'q1'), psqlqueue.create_subscription('s2', 't', 'q2');",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    let delivered: i32 = tx
        .query_one("SELECT psqlqueue.publish('t', 'm')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(delivered, 2);
    tx.rollback().await.unwrap();
    let left: i64 = client
        .query_one("SELECT count(*) FROM psqlqueue.messages", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    db.drop_db().await;
}
