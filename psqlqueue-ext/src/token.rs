//! API tokens: the bearer secrets of the HTTP sidecar (sql/auth.sql stores and checks them).
//!
//! A token is `pqq_` and 256 bits from the operating system's strong random source, the one
//! receipts use: long enough that no one guesses it, so the database may store it under a plain
//! SHA-256 (a slow password hash protects guessable secrets only). The prefix lets secret
//! scanners and people recognise one. Tokens are made rarely, so each draws its own bytes.

use pgrx::prelude::*;

/// Random bytes in a token: 256 bits.
const TOKEN_BYTES: usize = 32;
/// What every token starts with.
const TOKEN_PREFIX: &str = "pqq_";

/// Returns a new API token: `pqq_` and 64 lowercase hexadecimal characters (256 random bits).
#[pg_extern(volatile, parallel_safe)]
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    // SAFETY: the buffer is ours and exactly `bytes.len()` long.
    let drawn = unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) };
    if !drawn {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "could not draw random bytes for an API token"
        );
    }
    let mut text = String::with_capacity(TOKEN_PREFIX.len() + TOKEN_BYTES * 2);
    text.push_str(TOKEN_PREFIX);
    crate::hex::push_hex(&mut text, &bytes);
    text
}

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.new_token() IS 'Internal: a new API token, pqq_ and 64 hexadecimal \
     characters (256 bits from the strong random source); create_token draws one per token and stores only \
     its SHA-256.';",
    name = "token_comment",
    requires = [new_token]
);
