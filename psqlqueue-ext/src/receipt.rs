//! Lease receipts: the proof of holding a message's current lease.
//!
//! A receipt is 128 bits from the operating system's strong random source (what PostgreSQL
//! uses for SCRAM nonces), so holding one means having been given it; a new one is drawn for
//! every delivery, so a consumer whose lease ended holds a receipt that no longer matches.

use pgrx::prelude::*;
use std::fmt::Write;

/// Random bytes in a receipt: 128 bits.
const RECEIPT_BYTES: usize = 16;

/// Returns a new receipt: 32 lowercase hexadecimal characters (128 random bits).
#[pg_extern(volatile, parallel_safe)]
pub fn receipt() -> String {
    let mut bytes = [0u8; RECEIPT_BYTES];
    // SAFETY: the buffer is ours and exactly `RECEIPT_BYTES` long.
    let drawn = unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), RECEIPT_BYTES) };
    if !drawn {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "could not draw random bytes for a lease receipt"
        );
    }
    let mut text = String::with_capacity(RECEIPT_BYTES * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.receipt() IS 'Internal: a new lease receipt, 32 hexadecimal characters \
     (128 bits from the strong random source); receive draws one per delivery.';",
    name = "receipt_comment",
    requires = [receipt]
);
