//! psqlqueue: a message queue inside PostgreSQL.
//!
//! The queue logic is SQL (files under `sql/`, included here in dependency order) because the
//! hot paths are single statements whose plans PL/pgSQL caches; Rust supplies what SQL lacks:
//! monotonic ULID message ids (`id.rs`), lease receipts (`receipt.rs`), send_batch's fast check
//! of a batch (`batch.rs`), API tokens (`token.rs`; both written as hexadecimal by `hex.rs`),
//! the subscription filter validator and evaluator (`filter.rs`) and the background worker that
//! runs the retention sweep (`worker.rs`).

// Panics become PostgreSQL errors (pgrx catches them), but an unwrap is still a bug to avoid.
#![cfg_attr(not(any(test, feature = "pg_test")), deny(clippy::unwrap_used))]

use pgrx::prelude::*;

mod batch;
mod filter;
mod hex;
mod id;
mod receipt;
mod token;
mod worker;

::pgrx::pg_module_magic!(name, version);

/// Called when the library is loaded: settings, and the sweeper worker when preloaded.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    worker::init();
}

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../sql/errors.sql", name = "errors", requires = ["schema"]);
extension_sql_file!("../sql/checks.sql", name = "checks", requires = ["errors"]);
extension_sql_file!("../sql/queue.sql", name = "queue", requires = ["checks"]);
extension_sql_file!("../sql/wakeup.sql", name = "wakeup", requires = ["queue"]);
extension_sql_file!(
    "../sql/message.sql",
    name = "message",
    requires = [
        "wakeup",
        "ulid_comment",
        "ulids_comment",
        "receipt_comment",
        batch::batch_is_plain
    ]
);
extension_sql_file!("../sql/lease.sql", name = "lease", requires = ["message"]);
extension_sql_file!("../sql/groups.sql", name = "groups", requires = ["wakeup"]);
extension_sql_file!(
    "../sql/dead_letter.sql",
    name = "dead_letter",
    requires = ["lease"]
);
extension_sql_file!(
    "../sql/pubsub.sql",
    name = "pubsub",
    requires = ["dead_letter", "filter_comment", "match_comment"]
);
extension_sql_file!("../sql/sweep.sql", name = "sweep", requires = ["message"]);
extension_sql_file!(
    "../sql/auth.sql",
    name = "auth",
    requires = ["checks", "token_comment"]
);
// Last of all: it changes the privileges of every function above, so they must all exist.
extension_sql_file!("../sql/privileges.sql", name = "privileges", finalize);

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Hooks `cargo pgrx test` calls; required at the crate root.
#[cfg(test)]
pub mod pg_test {
    /// One-off set-up before the test cluster starts.
    pub fn setup(_options: Vec<&str>) {}

    /// postgresql.conf settings the tests need.
    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // The worker runs in the test cluster as it would in production; its own behaviour is
        // tested end to end in tests/tests/retention.rs (pg_tests roll back, so a worker could
        // never see their rows).
        vec!["shared_preload_libraries = 'psqlqueue'"]
    }
}
