//! Helpers for the `#[pg_test]`s.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// Runs `sql` in a subtransaction and returns `"<SQLSTATE>: <message>"` for the error it
/// raised, or `"ok"`; the test's transaction stays usable either way.
pub fn outcome(sql: &str) -> String {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.outcome(stmt text) RETURNS text LANGUAGE plpgsql AS $f$
         BEGIN EXECUTE stmt; RETURN 'ok';
         EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$",
    )
    .unwrap();
    let args: [DatumWithOid; 1] = [sql.into()];
    Spi::get_one_with_args::<String>("SELECT pg_temp.outcome($1)", &args)
        .unwrap()
        .unwrap()
}

/// Asserts that `sql` fails with `sqlstate` and a message containing `needle`.
#[track_caller]
pub fn assert_error(sql: &str, sqlstate: &str, needle: &str) {
    let got = outcome(sql);
    assert!(
        got.starts_with(&format!("{sqlstate}: ")) && got.contains(needle),
        "{sql}\n  expected {sqlstate} mentioning {needle:?}\n  got {got}"
    );
}

/// The single value `sql` returns (panics on NULL or error).
#[track_caller]
pub fn one<T: FromDatum + IntoDatum>(sql: &str) -> T {
    Spi::get_one::<T>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

/// Runs a statement whose result does not matter.
#[track_caller]
pub fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Waits on the database clock, which is what every message timing reads.
pub fn sleep(seconds: f64) {
    run(&format!("SELECT pg_sleep({seconds})"));
}

/// Ids received by one `receive` call, in the order returned.
pub fn receive_ids(queue: &str, label: Option<&str>, limit: i32) -> Vec<String> {
    let label = label.map_or("NULL".to_owned(), |l| format!("'{l}'"));
    let ids: Option<Vec<Option<String>>> = Spi::get_one(&format!(
        "SELECT array_agg(r.id ORDER BY ord) FROM psqlqueue.receive('{queue}', {label}, {limit})
                WITH ORDINALITY AS r(id, queue_id, label, body, attributes, delivery_attempts, created_at,
                                    receipt, lease_expires_at, ord)"
    ))
    .unwrap();
    ids.unwrap_or_default().into_iter().flatten().collect()
}
