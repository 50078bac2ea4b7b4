//! Message ids: ULIDs, generated in the backend that inserts the message.

use pgrx::prelude::*;
use std::cell::RefCell;
use ulid::{Generator, Ulid};

thread_local! {
    // A generator per backend makes ids minted by one backend strictly increasing, even
    // within one millisecond, so a producer's messages sort in the order it sent them.
    static GENERATOR: RefCell<Generator> = const { RefCell::new(Generator::new()) };
}

/// Returns a new ULID as 26 Crockford base32 characters (time-ordered, 80 random bits).
#[pg_extern(volatile, parallel_safe)]
pub fn ulid() -> String {
    GENERATOR.with(|generator| {
        generator
            .borrow_mut()
            .generate()
            // Only fails when 2^80 ids were made in one millisecond; a fresh random id is
            // still unique, merely not ordered after the previous one.
            .unwrap_or_else(|_| Ulid::generate())
            .to_string()
    })
}

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.ulid() IS 'Returns a new ULID: 26 characters, sortable by creation time; \
     strictly increasing within one backend.';",
    name = "ulid_comment",
    requires = [ulid]
);
