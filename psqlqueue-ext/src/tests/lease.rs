//! Leases: receipts, the lease rule for ack, nack and extend, and batches. The three
//! reproductions of issue 11 are here, now refused with the holder's lease intact. Lease ends are
//! real: queues with a 1-second ack deadline and sleeps just past it.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    /// Receives one message of `queue` and returns its (id, receipt, delivery_attempts).
    fn take(queue: &str) -> (String, String, i32) {
        Spi::connect(|client| {
            let row = client
                .select(
                    &format!(
                        "SELECT id, receipt, delivery_attempts FROM psqlqueue.receive('{queue}', NULL, 1)"
                    ),
                    None,
                    &[],
                )
                .unwrap()
                .first();
            (
                row.get::<String>(1).unwrap().expect("a message"),
                row.get::<String>(2).unwrap().expect("a receipt"),
                row.get::<i32>(3).unwrap().expect("attempts"),
            )
        })
    }

    /// The message's current lease: (receipt, "-" for none; lease end as text).
    fn lease(id: &str) -> (String, String) {
        (
            one::<String>(&format!(
                "SELECT coalesce(receipt, '-') FROM psqlqueue.messages WHERE id = '{id}'"
            )),
            one::<String>(&format!(
                "SELECT visible_at::text FROM psqlqueue.messages WHERE id = '{id}'"
            )),
        )
    }

    #[pg_test]
    fn every_delivery_has_a_new_unguessable_receipt_and_its_lease_end() {
        run("SELECT psqlqueue.create_queue('q', 1, 600)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        let (_, first, _) = take("q");
        assert_eq!(first.len(), 32, "128 bits as hex");
        assert!(
            first
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "lowercase hexadecimal: {first}"
        );
        let leased_for_the_deadline = one::<bool>(&format!(
            "SELECT visible_at > clock_timestamp() AND visible_at <= clock_timestamp() + interval '1 s'
               FROM psqlqueue.messages WHERE id = '{id}'"
        ));
        assert!(leased_for_the_deadline);
        sleep(1.1);
        let (again, second, attempts) = take("q");
        assert_eq!((again.as_str(), attempts), (id.as_str(), 2));
        assert_ne!(first, second, "a redelivery draws a new receipt");
        assert_eq!(
            one::<i64>("SELECT count(DISTINCT psqlqueue.receipt()) FROM generate_series(1, 1000)"),
            1000
        );
    }

    #[pg_test]
    fn a_late_nack_cannot_hand_the_message_to_a_third_consumer() {
        // Reproduction 1: C1's lease expires, C2 receives, C1's late nack must not make the
        // message deliverable to C3 while C2's lease holds.
        run("SELECT psqlqueue.create_queue('q', 1, 600)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        let (_, c1, _) = take("q");
        sleep(1.1);
        let (_, c2, attempts) = take("q");
        assert_eq!(attempts, 2);
        let held = lease(&id);
        assert_error(
            &format!("SELECT psqlqueue.nack('q', '{id}', 0, '{c1}')"),
            "55000",
            "is no longer held",
        );
        assert_eq!(lease(&id), held, "C2's lease is untouched");
        assert!(receive_ids("q", None, 10).is_empty(), "C3 gets nothing");
        run(&format!("SELECT psqlqueue.ack('q', '{id}', '{c2}')"));
    }

    #[pg_test]
    fn a_stale_ack_cannot_delete_another_consumers_delivery() {
        // Reproduction 2: after redelivery to C2, C1's ack fails and C2's own ack works.
        run("SELECT psqlqueue.create_queue('q', 1, 600)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        let (_, c1, _) = take("q");
        sleep(1.1);
        let (_, c2, _) = take("q");
        let held = lease(&id);
        assert_error(
            &format!("SELECT psqlqueue.ack('q', '{id}', '{c1}')"),
            "55000",
            "is no longer held",
        );
        assert_error(
            &format!("SELECT psqlqueue.extend('q', '{id}', '{c1}', 60)"),
            "55000",
            "is no longer held",
        );
        assert_eq!(lease(&id), held);
        run(&format!("SELECT psqlqueue.ack('q', '{id}', '{c2}')"));
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.messages"), 0);
    }

    #[pg_test]
    fn messages_not_leased_right_now_cannot_be_acked_or_nacked() {
        // Reproduction 3: never delivered (waiting or delayed), and a lease that expired.
        run("SELECT psqlqueue.create_queue('q', 1, 600)");
        run("SELECT psqlqueue.create_queue('delayed', 1, 600, 60)");
        let waiting = one::<String>("SELECT psqlqueue.send('q', 'w')");
        let delayed = one::<String>("SELECT psqlqueue.send('delayed', 'd')");
        let before = lease(&delayed);
        for (queue, id) in [("q", &waiting), ("delayed", &delayed)] {
            for call in [
                format!("SELECT psqlqueue.ack('{queue}', '{id}')"),
                format!("SELECT psqlqueue.nack('{queue}', '{id}')"),
                format!("SELECT psqlqueue.nack('{queue}', '{id}', 0, 'made-up')"),
            ] {
                assert_error(&call, "55000", "is no longer held");
            }
        }
        assert_eq!(lease(&delayed), before, "the delay still holds");
        let (_, receipt, _) = take("q");
        sleep(1.1);
        for call in [
            format!("SELECT psqlqueue.ack('q', '{waiting}')"),
            format!("SELECT psqlqueue.ack('q', '{waiting}', '{receipt}')"),
            format!("SELECT psqlqueue.nack('q', '{waiting}', 0, '{receipt}')"),
        ] {
            assert_error(&call, "55000", "is no longer held");
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.messages"), 2);
        // A missing message is still P0002, whatever the receipt.
        assert_error(
            "SELECT psqlqueue.ack('q', 'missing', 'r')",
            "P0002",
            "not found",
        );
    }

    #[pg_test]
    fn without_a_receipt_the_current_lease_is_enough() {
        // The original API keeps working for a consumer that holds the lease.
        run("SELECT psqlqueue.create_queue('q', 30, 600)");
        let a = one::<String>("SELECT psqlqueue.send('q', 'a')");
        let b = one::<String>("SELECT psqlqueue.send('q', 'b')");
        receive_ids("q", None, 2);
        run(&format!("SELECT psqlqueue.nack('q', '{a}')"));
        run(&format!("SELECT psqlqueue.ack('q', '{b}')"));
        assert_eq!(receive_ids("q", None, 10), vec![a]);
    }

    #[pg_test]
    fn nack_ends_the_lease_so_its_receipt_no_longer_works() {
        run("SELECT psqlqueue.create_queue('q', 30, 600)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        let (_, receipt, _) = take("q");
        run(&format!(
            "SELECT psqlqueue.nack('q', '{id}', 60, '{receipt}')"
        ));
        assert_eq!(lease(&id).0, "-");
        assert_error(
            &format!("SELECT psqlqueue.ack('q', '{id}', '{receipt}')"),
            "55000",
            "no longer held",
        );
    }

    #[pg_test]
    fn extend_moves_the_lease_end_and_checks_its_input() {
        run("SELECT psqlqueue.create_queue('q', 1, 600)");
        let id = one::<String>("SELECT psqlqueue.send('q', 'b')");
        let (_, receipt, _) = take("q");
        let end = one::<bool>(&format!(
            "SELECT psqlqueue.extend('q', '{id}', '{receipt}', 5)
                    BETWEEN clock_timestamp() + interval '4.9 s' AND clock_timestamp() + interval '5 s'"
        ));
        assert!(end, "the new end is now + seconds");
        sleep(1.1);
        assert!(
            receive_ids("q", None, 1).is_empty(),
            "the extended lease outlives the ack deadline"
        );
        run(&format!("SELECT psqlqueue.ack('q', '{id}', '{receipt}')"));
        for (call, needle) in [
            (
                "SELECT psqlqueue.extend('q', 'm', NULL, 5)",
                "invalid receipt",
            ),
            (
                "SELECT psqlqueue.extend('q', 'm', 'r', 0)",
                "between 1 and 43200",
            ),
            (
                "SELECT psqlqueue.extend('q', 'm', 'r', 43201)",
                "between 1 and 43200",
            ),
            ("SELECT psqlqueue.extend('q', 'm', 'r', NULL)", "got null"),
        ] {
            assert_error(call, "22023", needle);
        }
    }

    #[pg_test]
    fn batches_report_each_message_in_order() {
        run(
            "SELECT psqlqueue.create_queue('q', 30, 600), psqlqueue.create_queue('other', 30, 600)",
        );
        let ids: Vec<String> = (0..4)
            .map(|i| one::<String>(&format!("SELECT psqlqueue.send('q', 'm{i}')")))
            .collect();
        let foreign = one::<String>("SELECT psqlqueue.send('other', 'f')");
        receive_ids("q", None, 3); // ids[3] stays waiting: not leased
        let receipts: Vec<String> = ids[..3]
            .iter()
            .map(|id| {
                one::<String>(&format!(
                    "SELECT receipt FROM psqlqueue.messages WHERE id = '{id}'"
                ))
            })
            .collect();
        let statuses = |sql: &str| {
            one::<String>(&format!(
                "SELECT string_agg(message_id || ' ' || status, ', ') FROM ({sql}) AS b"
            ))
        };
        // ids[0] with its receipt, ids[1] with a wrong one, ids[3] not leased, foreign and a
        // made-up id not in the queue.
        let got = statuses(&format!(
            "SELECT * FROM psqlqueue.ack_batch('q', ARRAY['{}', '{}', '{}', '{foreign}', 'nope'],
                                                     ARRAY['{}', 'wrong', NULL, NULL, NULL])",
            ids[0], ids[1], ids[3], receipts[0]
        ));
        assert_eq!(
            got,
            format!(
                "{} acked, {} lease_lost, {} lease_lost, {foreign} not_found, nope not_found",
                ids[0], ids[1], ids[3]
            )
        );
        let got = statuses(&format!(
            "SELECT * FROM psqlqueue.nack_batch('q', ARRAY['{}', '{}', '{}'], 60, ARRAY['{}', '{}', NULL])",
            ids[1], ids[2], ids[0], receipts[1], receipts[2]
        ));
        assert_eq!(
            got,
            format!("{} nacked, {} nacked, {} not_found", ids[1], ids[2], ids[0])
        );
        assert_eq!(
            receive_ids("q", None, 10),
            vec![ids[3].clone()],
            "nacked with 60 s"
        );
        for (call, needle) in [
            (
                "SELECT * FROM psqlqueue.ack_batch('q', ARRAY[]::text[])",
                "1 to 1000 ids, got 0",
            ),
            ("SELECT * FROM psqlqueue.ack_batch('q', NULL)", "got null"),
            (
                "SELECT * FROM psqlqueue.ack_batch('q', array_fill('x'::text, ARRAY[1001]))",
                "got 1001",
            ),
            (
                "SELECT * FROM psqlqueue.ack_batch('q', ARRAY['a', NULL])",
                "position 2",
            ),
            (
                "SELECT * FROM psqlqueue.nack_batch('q', ARRAY['a'], 0, ARRAY['r', 's'])",
                "1 ids, 2 receipts",
            ),
            (
                "SELECT * FROM psqlqueue.nack_batch('q', ARRAY['a'], -1)",
                "between 0 and 43200",
            ),
        ] {
            assert_error(call, "22023", needle);
        }
        assert_error(
            "SELECT * FROM psqlqueue.ack_batch('nope', ARRAY['a'])",
            "P0002",
            r#"queue "nope" not found"#,
        );
        // A repeated id is refused, and the batch with it changes nothing: the message stays
        // leased under the receipt given twice.
        let id = one::<String>("SELECT psqlqueue.send('q', 'dup')");
        assert_eq!(receive_ids("q", None, 1), vec![id.clone()]);
        let receipt = one::<String>(&format!(
            "SELECT receipt FROM psqlqueue.messages WHERE id = '{id}'"
        ));
        for call in [
            format!(
                "SELECT * FROM psqlqueue.ack_batch('q', ARRAY['{id}', '{id}'], ARRAY['{receipt}', 'stale'])"
            ),
            format!("SELECT * FROM psqlqueue.nack_batch('q', ARRAY['{id}', '{id}'])"),
        ] {
            assert_error(&call, "22023", "must not repeat an id");
        }
        assert_eq!(
            one::<String>(&format!(
                "SELECT receipt FROM psqlqueue.messages WHERE id = '{id}'"
            )),
            receipt
        );
    }
}
