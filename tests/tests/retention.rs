//! Automatic retention: expired messages go without anyone calling cleanup.
//!
//! - The sweep itself (one bounded batch, oldest expiry first, nothing live touched).
//! - try_sweep stands aside while another session is the sweeper (advisory-lock barrier, no
//!   sleeps).
//! - The background worker, in a private cluster that preloads the library
//!   (`scripts/preload-cluster.sh`, started by `make test`): it holds the sweeper lock and
//!   empties expired rows within a few 1-second ticks, polled against a deadline.

use psqlqueue_tests::TestDb;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, Config, NoTls};

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// Sends `n` messages to `queue` and makes them expired (a fixture: the clock is not waited on).
async fn expired(client: &Client, queue: &str, n: i64) {
    client
        .execute(
            "SELECT count(psqlqueue.send($1, 'old-' || i)) FROM generate_series(1, $2::bigint) AS i",
            &[&queue, &n],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE psqlqueue.messages SET expires_at = clock_timestamp() - interval '1 second'
              WHERE queue_id = $1 AND body LIKE 'old-%'",
            &[&queue],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn sweep_deletes_bounded_batches_of_expired_messages_only() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    client
        .batch_execute(
            "SELECT psqlqueue.create_queue('a', 30, 600);
             SELECT psqlqueue.create_queue('b', 30, 600);",
        )
        .await
        .unwrap();
    expired(&client, "a", 25).await;
    expired(&client, "b", 10).await;
    client
        .batch_execute(
            "SELECT psqlqueue.send('a', 'live');
             SELECT psqlqueue.send('b', 'live');",
        )
        .await
        .unwrap();
    // Queue b's messages expired long before a's: the sweep takes the oldest expiry first.
    client
        .batch_execute(
            "UPDATE psqlqueue.messages SET expires_at = clock_timestamp() - interval '100 seconds'
              WHERE queue_id = 'b' AND body LIKE 'old-%'",
        )
        .await
        .unwrap();
    let first: i32 = client
        .query_one("SELECT psqlqueue.sweep(15)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, 15);
    let left: Vec<i64> = client
        .query_one(
            "SELECT count(*) FILTER (WHERE queue_id = 'a'), count(*) FILTER (WHERE queue_id = 'b')
               FROM psqlqueue.messages WHERE body LIKE 'old-%'",
            &[],
        )
        .await
        .map(|row| vec![row.get(0), row.get(1)])
        .unwrap();
    assert_eq!(
        left,
        vec![20, 0],
        "b's 10 older expiries went first, then 5 of a's"
    );
    let swept: Vec<i32> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(
                client
                    .query_one("SELECT psqlqueue.sweep(15)", &[])
                    .await
                    .unwrap()
                    .get(0),
            );
        }
        out
    };
    assert_eq!(
        swept,
        vec![15, 5, 0],
        "batches of at most 15 until none left"
    );
    let bodies: Vec<String> = client
        .query("SELECT body FROM psqlqueue.messages ORDER BY queue_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(bodies, vec!["live", "live"], "live messages untouched");
    db.drop_db().await;
}

#[tokio::test]
async fn try_sweep_stands_aside_while_another_session_is_the_sweeper() {
    let db = TestDb::new().await;
    let sweeper = db.connect().await;
    let other = db.connect().await;
    sweeper
        .batch_execute("SELECT psqlqueue.create_queue('q', 30, 600)")
        .await
        .unwrap();
    expired(&sweeper, "q", 3).await;

    // The barrier: `sweeper` holds the lock as the background worker does.
    sweeper
        .batch_execute("SELECT pg_advisory_lock(psqlqueue.sweeper_lock_key())")
        .await
        .unwrap();
    let busy: Option<i32> = other
        .query_one("SELECT psqlqueue.try_sweep(100)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, None, "another session holds the sweeper lock");
    assert_eq!(
        count(&other, "SELECT count(*) FROM psqlqueue.messages").await,
        3
    );
    // The holder itself may sweep (locks are re-entrant in a session).
    let own: Option<i32> = sweeper
        .query_one("SELECT psqlqueue.try_sweep(1)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(own, Some(1));

    sweeper
        .batch_execute("SELECT pg_advisory_unlock(psqlqueue.sweeper_lock_key())")
        .await
        .unwrap();
    let swept: Option<i32> = other
        .query_one("SELECT psqlqueue.try_sweep(100)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(swept, Some(2), "free again: this session sweeps");
    // The lock was the transaction's only: released at commit.
    let locks = count(
        &sweeper,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .await;
    assert_eq!(locks, 0);
    drop((sweeper, other));
    db.drop_db().await;
}

/// The preloaded private cluster's `postgres` database (see the module doc).
fn preload_url() -> String {
    std::env::var("PSQLQUEUE_TEST_PRELOAD_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 port=54331 user=postgres dbname=postgres".to_owned())
}

#[tokio::test]
async fn the_background_worker_deletes_expired_messages_unasked() {
    let config: Config = preload_url().parse().expect("PSQLQUEUE_TEST_PRELOAD_URL");
    let (client, connection) = config.connect(NoTls).await.expect(
        "connect to the preloaded cluster (make test starts it: scripts/preload-cluster.sh start)",
    );
    tokio::spawn(connection);
    client
        .batch_execute(
            "DROP EXTENSION IF EXISTS psqlqueue CASCADE;
             CREATE EXTENSION psqlqueue;
             SELECT psqlqueue.create_queue('short', 30, 1);
             SELECT psqlqueue.create_queue('long', 30, 3600);",
        )
        .await
        .unwrap();
    let interval: String = client
        .query_one("SHOW psqlqueue.sweep_interval", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(interval, "1s");

    // Real expiry with a short interval: retention 1 s, then the worker's 1-second ticks.
    client
        .batch_execute(
            "SELECT count(psqlqueue.send('short', 'm' || i)) FROM generate_series(1, 2000) AS i;
             SELECT psqlqueue.send('long', 'stays');",
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = count(
            &client,
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'short'",
        )
        .await;
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} expired messages still there after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count(&client, "SELECT count(*) FROM psqlqueue.messages").await,
        1,
        "the live message stays"
    );
    // It was the worker: it holds the sweeper lock, so a sidecar's try_sweep stands aside.
    let holder: String = client
        .query_one(
            "SELECT a.backend_type FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND (l.classid::bigint << 32) + l.objid::bigint = psqlqueue.sweeper_lock_key()",
            &[],
        )
        .await
        .expect("the sweeper lock is held")
        .get(0);
    assert_eq!(holder, "psqlqueue sweeper");
    let busy: Option<i32> = client
        .query_one("SELECT psqlqueue.try_sweep(10)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, None);
    client
        .batch_execute("DROP EXTENSION psqlqueue CASCADE")
        .await
        .unwrap();
}
