//! Message ids: ULIDs, generated in the backend that inserts the message.

use pgrx::prelude::*;
use std::cell::RefCell;
use ulid::{Generator, Ulid};

thread_local! {
    // A generator per backend makes ids minted by one backend strictly increasing, even
    // within one millisecond, so a producer's messages sort in the order it sent them.
    static GENERATOR: RefCell<Generator> = const { RefCell::new(Generator::new()) };
}

/// Most ids one call of `ulids` makes: send_batch's most messages.
const MAX_ULIDS: i32 = 1000;

/// The backend generator's next id.
fn next(generator: &mut Generator) -> String {
    generator
        .generate()
        // Only fails when 2^80 ids were made in one millisecond; a fresh random id is still
        // unique, merely not ordered after the previous one.
        .unwrap_or_else(|_| Ulid::generate())
        .to_string()
}

/// Returns a new ULID as 26 Crockford base32 characters (time-ordered, 80 random bits).
#[pg_extern(volatile, parallel_safe)]
pub fn ulid() -> String {
    GENERATOR.with(|generator| next(&mut generator.borrow_mut()))
}

/// Returns `count` (0 to 1000) new ULIDs, each greater than the one before: what `count` calls of
/// `ulid` return, in one call (send_batch's ids, one function call instead of one per message).
#[pg_extern(volatile, parallel_safe)]
pub fn ulids(count: i32) -> Vec<String> {
    if !(0..=MAX_ULIDS).contains(&count) {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("count must be between 0 and {MAX_ULIDS}, got {count}")
        );
    }
    GENERATOR.with(|generator| {
        let mut generator = generator.borrow_mut();
        (0..count).map(|_| next(&mut generator)).collect()
    })
}

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.ulid() IS 'Returns a new ULID: 26 characters, sortable by creation time; \
     strictly increasing within one backend.';",
    name = "ulid_comment",
    requires = [ulid]
);

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.ulids(int) IS 'Internal: returns count (0 to 1000) new ULIDs, each greater \
     than the one before (send_batch''s ids). Errors: 22023 a count out of range.';",
    name = "ulids_comment",
    requires = [ulids]
);
