//! The schema stays ready to be split by queue (docs/SCALING.md): every table of the extension
//! is classified as distributed (by `queue_id`, or by `topic_id` for a topic's own rows), a
//! reference table (small, copied everywhere) or local runtime state, and every primary key and
//! unique constraint or index of a distributed table includes its distribution column, which a
//! distributed database such as Citus requires. Foreign keys of a distributed table may point
//! only at reference tables.
//!
//! A new table fails the test until it is classified here, so the choice is made on purpose.

use psqlqueue_tests::TestDb;
use tokio_postgres::Client;

/// Split by queue (or topic), with the column that splits them: one queue's rows live together.
const DISTRIBUTED: &[(&str, &str)] = &[
    ("messages", "queue_id"),
    ("deduplications", "queue_id"),
    ("topic_deduplications", "topic_id"),
];
/// Few rows, read by every statement: a copy on every node.
const REFERENCE: &[&str] = &["queues", "topics", "subscriptions", "tokens"];
/// Unlogged runtime state of the node that serves long polls (wakeup.sql).
const LOCAL: &[&str] = &["listeners"];

/// The unique keys (constraints and indexes) of `schema.table` that leave out `column`, each as
/// its index's name.
async fn keys_without(client: &Client, schema: &str, table: &str, column: &str) -> Vec<String> {
    client
        .query(
            "SELECT i.indexrelid::regclass::text
               FROM pg_index AS i
              WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass
                AND i.indisunique
                AND NOT EXISTS (SELECT FROM pg_attribute AS a
                                 WHERE a.attrelid = i.indrelid AND a.attname = $3
                                   AND a.attnum = ANY (i.indkey))
              ORDER BY 1",
            &[&schema, &table, &column],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn every_table_is_classified_and_distributed_keys_include_queue_id() {
    let db = TestDb::new().await;
    let client = db.connect().await;

    let tables: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class AS c
              WHERE c.relnamespace = 'psqlqueue'::regnamespace AND c.relkind IN ('r', 'p')
              ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut classified: Vec<String> = DISTRIBUTED
        .iter()
        .map(|(table, _)| table)
        .chain(REFERENCE)
        .chain(LOCAL)
        .map(|t| t.to_string())
        .collect();
    classified.sort();
    assert_eq!(
        tables, classified,
        "every table of the extension is classified here"
    );

    for (table, column) in DISTRIBUTED {
        let not_null: bool = client
            .query_one(
                "SELECT a.attnotnull FROM pg_attribute AS a
                  WHERE a.attrelid = format('psqlqueue.%I', $1::text)::regclass
                    AND a.attname = $2",
                &[table, column],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            not_null,
            "{table}.{column} is the distribution column: NOT NULL"
        );
        assert_eq!(
            keys_without(&client, "psqlqueue", table, column).await,
            Vec::<String>::new(),
            "unique keys of {table} without {column}"
        );
        let bad_targets: Vec<String> = client
            .query(
                "SELECT c.conname::text || ' -> ' || c.confrelid::regclass::text
                   FROM pg_constraint AS c
                  WHERE c.conrelid = format('psqlqueue.%I', $1::text)::regclass AND c.contype = 'f'
                    AND NOT (c.confrelid::regclass::text = ANY (
                             SELECT 'psqlqueue.' || r FROM unnest($2::text[]) AS r))",
                &[table, &REFERENCE],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(
            bad_targets,
            Vec::<String>::new(),
            "foreign keys of {table} to tables that are not reference tables"
        );
    }

    // The check sees a key without the queue: a table keyed the way messages once was.
    client
        .batch_execute(
            "CREATE TABLE public.old_messages (id text PRIMARY KEY, queue_id text NOT NULL);
             CREATE UNIQUE INDEX old_messages_queue_idx ON public.old_messages (queue_id, id);",
        )
        .await
        .unwrap();
    assert_eq!(
        keys_without(&client, "public", "old_messages", "queue_id").await,
        vec!["old_messages_pkey".to_string()]
    );

    drop(client);
    db.drop_db().await;
}
