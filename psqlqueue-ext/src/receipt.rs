//! Lease receipts: the proof of holding a message's current lease.
//!
//! A receipt is 128 bits from the operating system's strong random source (what PostgreSQL
//! uses for SCRAM nonces), so holding one means having been given it; a new one is drawn for
//! every delivery, so a consumer whose lease ended holds a receipt that no longer matches.
//!
//! The random bytes are drawn a page at a time and handed out in 16-byte slices: one draw costs
//! about as much as 2 µs per receipt drawn singly (measured: 100k single draws took 292 ms), and
//! receive(10) draws ten. Each slice is used once. The page belongs to the backend that drew
//! it (a forked process never inherits one it could also hand out: the page records its pid).

use pgrx::prelude::*;
use std::cell::RefCell;

/// Random bytes in a receipt: 128 bits.
const RECEIPT_BYTES: usize = 16;
/// Receipts drawn at once.
const RECEIPTS_PER_DRAW: usize = 256;

/// Strong random bytes not yet handed out, and the process that drew them.
struct Pool {
    pid: u32,
    bytes: [u8; RECEIPT_BYTES * RECEIPTS_PER_DRAW],
    next: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool { pid: 0, bytes: [0; RECEIPT_BYTES * RECEIPTS_PER_DRAW], next: usize::MAX })
    };
}

/// Returns a new receipt: 32 lowercase hexadecimal characters (128 random bits).
#[pg_extern(volatile, parallel_safe)]
pub fn receipt() -> String {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let pid = std::process::id();
        if pool.pid != pid || pool.next + RECEIPT_BYTES > pool.bytes.len() {
            // SAFETY: the buffer is ours and exactly `bytes.len()` long.
            let drawn = unsafe {
                pg_sys::pg_strong_random(pool.bytes.as_mut_ptr().cast(), pool.bytes.len())
            };
            if !drawn {
                ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "could not draw random bytes for a lease receipt"
                );
            }
            pool.pid = pid;
            pool.next = 0;
        }
        let start = pool.next;
        pool.next += RECEIPT_BYTES;
        let mut text = String::with_capacity(RECEIPT_BYTES * 2);
        crate::hex::push_hex(&mut text, &pool.bytes[start..start + RECEIPT_BYTES]);
        text
    })
}

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.receipt() IS 'Internal: a new lease receipt, 32 hexadecimal characters \
     (128 bits from the strong random source); receive draws one per delivery.';",
    name = "receipt_comment",
    requires = [receipt]
);
