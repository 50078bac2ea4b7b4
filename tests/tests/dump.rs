//! Data safety: `pg_dump` of a database using psqlqueue, restored with `psql` into a new one,
//! keeps every queue, message (with its timing, lease and receipt), topic, subscription and
//! token, and the restored queue works: the lease taken before the dump can be acked with its
//! receipt, the token still authenticates, a receive delivers what was waiting.

use psqlqueue_tests::TestDb;
use std::process::{Command, Stdio};
use tokio_postgres::Client;

/// Every row of the extension's dumped tables, as text, sorted: two databases with the same
/// data give the same string.
async fn contents(client: &Client) -> String {
    let mut out = String::new();
    for table in [
        "queues",
        "messages",
        "topics",
        "subscriptions",
        "tokens",
        "deduplications",
        "topic_deduplications",
    ] {
        // The table names come from the list above, not from input.
        let sql = format!(
            "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM psqlqueue.{table} AS t"
        );
        let rows: String = client.query_one(&sql, &[]).await.expect(&sql).get(0);
        out.push_str(&format!("-- {table}\n{rows}\n"));
    }
    out
}

/// The pg_dump / pg_restore binaries of the server's major version (Debian's wrappers pick it).
fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn a_dump_restores_every_queue_message_lease_topic_subscription_and_token() {
    let source = TestDb::new().await;
    let client = source.connect().await;
    // A queue whose dead-letter queue was created after it (a self-reference the restore must
    // load in any order), messages waiting, leased, delayed and dead-lettered, a filtered
    // subscription and a token.
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('orders', 30, 3600);
             SELECT psqlqueue.create_queue('dead', 30, 3600);
             SELECT psqlqueue.update_queue('orders', 30, 3600, 0, 1, 'dead');
             SELECT psqlqueue.send('orders', 'waiting', 'l', '{\"k\": \"v\"}');
             SELECT psqlqueue.send('orders', 'delayed');
             UPDATE psqlqueue.messages SET visible_at = now() + interval '1 hour' WHERE body = 'delayed';
             SELECT psqlqueue.send('orders', 'spent');
             SELECT psqlqueue.create_topic('events');
             SELECT psqlqueue.create_subscription('only-v', 'events', 'orders', '{\"k\": [\"v\"]}');
             SELECT psqlqueue.create_queue('fifo', 30, 3600);
             SELECT psqlqueue.send('fifo', 'g1', group_id => 'g');
             SELECT psqlqueue.send('fifo', 'g2', group_id => 'g', deduplication_id => 'once');
             SELECT psqlqueue.publish('events', 'published', deduplication_id => 'p');",
        )
        .await
        .expect("fixture");
    // 'waiting' is leased and kept; 'spent' is leased and given back: with one delivery
    // allowed, the next receive moves it to 'dead'.
    let leased = client
        .query(
            "SELECT id, body, receipt FROM psqlqueue.receive('orders', NULL, 2)",
            &[],
        )
        .await
        .expect("receive");
    assert_eq!(leased.len(), 2);
    let (mut kept, mut kept_receipt) = (String::new(), String::new());
    for row in &leased {
        let (id, body, receipt): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if body == "spent" {
            client
                .execute(
                    "SELECT psqlqueue.nack('orders', $1, 0, $2)",
                    &[&id, &receipt],
                )
                .await
                .expect("nack");
        } else {
            (kept, kept_receipt) = (id, receipt);
        }
    }
    let moved = client
        .query("SELECT * FROM psqlqueue.receive('orders', NULL, 10)", &[])
        .await
        .expect("receive moves the spent message");
    assert!(moved.is_empty(), "nothing else deliverable");
    let token: String = client
        .query_one(
            "SELECT psqlqueue.create_token('ci', ARRAY['send:orders', 'consume:*'])",
            &[],
        )
        .await
        .expect("token")
        .get(0);
    let before = contents(&client).await;
    assert!(before.contains("spent"), "{before}");
    assert!(
        before.contains("infinity"),
        "g2 is parked behind g1: {before}"
    );

    let dump = run("pg_dump", &["--no-owner", "-d", &source.url()], None);
    let target = TestDb::empty().await;
    run(
        "psql",
        &["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &target.url()],
        Some(&dump),
    );
    let restored = target.connect().await;
    assert_eq!(contents(&restored).await, before, "restored rows differ");

    // The restored queue works: the lease taken before the dump acks with its receipt, the
    // dead letter is where it was, and the token authenticates.
    restored
        .execute(
            "SELECT psqlqueue.ack('orders', $1, $2)",
            &[&kept, &kept_receipt],
        )
        .await
        .expect("ack with the receipt from before the dump");
    let dead: Vec<String> = restored
        .query("SELECT body FROM psqlqueue.receive('dead', NULL, 10)", &[])
        .await
        .expect("receive the dead letter")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(dead, vec!["spent".to_owned()]);
    let scopes: Option<Vec<String>> = restored
        .query_one("SELECT psqlqueue.token_scopes($1)", &[&token])
        .await
        .expect("token_scopes")
        .get(0);
    assert_eq!(
        scopes,
        Some(vec!["send:orders".to_owned(), "consume:*".to_owned()])
    );
    // The group keeps its order and its parking; a deduplication id seen before the dump is
    // still seen; the group sequence goes on after the restored arrivals.
    let dedup_first: String = client
        .query_one("SELECT id FROM psqlqueue.messages WHERE body = 'g2'", &[])
        .await
        .unwrap()
        .get(0);
    let again: String = restored
        .query_one(
            "SELECT psqlqueue.send('fifo', 'g2 again', group_id => 'g', deduplication_id => 'once')",
            &[],
        )
        .await
        .expect("send a duplicate")
        .get(0);
    assert_eq!(again, dedup_first);
    restored
        .batch_execute("SELECT psqlqueue.send('fifo', 'g3', group_id => 'g')")
        .await
        .expect("send g3");
    let mut order = Vec::new();
    for _ in 0..3 {
        let rows = restored
            .query(
                "SELECT id, body, receipt FROM psqlqueue.receive('fifo', NULL, 10)",
                &[],
            )
            .await
            .expect("receive fifo");
        assert_eq!(rows.len(), 1, "one message of the group at a time");
        let (id, body, receipt): (String, String, String) =
            (rows[0].get(0), rows[0].get(1), rows[0].get(2));
        order.push(body);
        restored
            .execute("SELECT psqlqueue.ack('fifo', $1, $2)", &[&id, &receipt])
            .await
            .expect("ack fifo");
    }
    assert_eq!(order, ["g1", "g2", "g3"]);
    drop((client, restored));
    source.drop_db().await;
    target.drop_db().await;
}
