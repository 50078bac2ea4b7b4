//! send_batch's fast path: whether a batch is one its common statement may write as it is.
//!
//! A batch is *plain* when it is a JSON array of 1 to 1,000 valid message objects none of which
//! has a deduplication id or a delay of its own. The rules are sql/checks.sql's
//! (`batch_message_is_valid`, `message_is_valid`; `check_batch_messages` words what is wrong);
//! this walks the jsonb's binary form once instead of running their JSON path queries per
//! element, which cost a fifth of a send_batch of ten (callgrind, one backend: the call went from
//! 1,529k to 1,181k instructions, 33k of them here). `false` only sends the batch down
//! send_batch's general path, which checks it with the SQL rules; the pgrx test
//! `checks::batch_is_plain_agrees_with_the_sql_rules` holds this to them at every boundary.
//!
//! It reads the jsonb through PostgreSQL's own iterator rather than pgrx's `JsonB`, which
//! would print the value as text and parse it again with serde_json.

use pgrx::pg_sys::{self, JsonbIteratorToken as Token, jbvType};
use pgrx::prelude::*;

/// Most messages in one batch.
const MAX_MESSAGES: u32 = 1000;
/// Longest body, in bytes.
const MAX_BODY_BYTES: usize = 1_048_576;
/// Longest label, in characters.
const MAX_LABEL_CHARS: usize = 128;
/// Longest group id, in characters.
const MAX_GROUP_CHARS: usize = 128;
/// Most attributes of one message.
const MAX_ATTRIBUTES: u32 = 100;
/// Longest attribute name, in characters.
const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;
/// Longest attribute value, in characters.
const MAX_ATTRIBUTE_VALUE_CHARS: usize = 1024;

/// Whether `messages` (a jsonb) is a plain batch: see the module's documentation.
// The SQL is written out to declare the argument as jsonb while the function reads it raw.
#[pg_extern(sql = r#"
CREATE FUNCTION psqlqueue.batch_is_plain(messages jsonb) RETURNS boolean
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
COMMENT ON FUNCTION psqlqueue.batch_is_plain(jsonb) IS
    'Internal: true when send_batch may write the batch with its common statement: a JSON array of 1 to 1000 '
    'valid message objects without deduplication ids or delays of their own.';
"#)]
fn batch_is_plain(fcinfo: pg_sys::FunctionCallInfo) -> bool {
    // SAFETY: the SQL declaration makes the one argument a jsonb and the function STRICT, so
    // argument 0 is a non-null jsonb datum; detoasting gives its whole binary form, which
    // PostgreSQL's iterator reads.
    unsafe {
        let datum = pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, 0);
        let jsonb = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()).cast::<pg_sys::Jsonb>();
        messages_are_plain(&raw mut (*jsonb).root)
    }
}

/// A container's kind and size, from its header.
struct Shape {
    array: bool,
    object: bool,
    scalar: bool,
    size: u32,
}

/// # Safety
/// `container` must point to a valid jsonb container.
unsafe fn shape(container: *const pg_sys::JsonbContainer) -> Shape {
    let header = unsafe { (*container).header };
    Shape {
        array: header & pg_sys::JB_FARRAY != 0,
        object: header & pg_sys::JB_FOBJECT != 0,
        scalar: header & pg_sys::JB_FSCALAR != 0,
        size: header & pg_sys::JB_CMASK,
    }
}

/// The members of one container, one level deep: nested containers come back as
/// `jbvBinary` values pointing into the same jsonb.
struct Members {
    iterator: *mut pg_sys::JsonbIterator,
}

impl Members {
    /// # Safety
    /// `container` must point to a valid jsonb container that outlives the iteration.
    unsafe fn of(container: *mut pg_sys::JsonbContainer) -> Self {
        Self {
            iterator: unsafe { pg_sys::JsonbIteratorInit(container) },
        }
    }

    /// The next token and its value; `WJB_DONE` at the end.
    fn next(&mut self, value: &mut pg_sys::JsonbValue) -> Token::Type {
        // SAFETY: the iterator came from JsonbIteratorInit over a container that outlives it
        // (Members::of); it frees its own state as it finishes. An iteration left early leaves
        // its state in the call's memory context, which PostgreSQL frees.
        unsafe { pg_sys::JsonbIteratorNext(&raw mut self.iterator, value, true) }
    }
}

/// An empty value for the iterator to fill.
fn empty_value() -> pg_sys::JsonbValue {
    pg_sys::JsonbValue {
        type_: jbvType::jbvNull,
        val: pg_sys::JsonbValue__bindgen_ty_1 { boolean: false },
    }
}

/// # Safety
/// `root` must point to the root container of a detoasted jsonb.
unsafe fn messages_are_plain(root: *mut pg_sys::JsonbContainer) -> bool {
    let top = unsafe { shape(root) };
    if !top.array || top.scalar || top.size == 0 || top.size > MAX_MESSAGES {
        return false;
    }
    let mut elements = unsafe { Members::of(root) };
    let mut element = empty_value();
    loop {
        match elements.next(&mut element) {
            Token::WJB_BEGIN_ARRAY | Token::WJB_END_ARRAY => {}
            // SAFETY: the element was filled in by the iterator over this jsonb.
            Token::WJB_ELEM => {
                if !unsafe { message_is_plain(&element) } {
                    return false;
                }
            }
            Token::WJB_DONE => return true,
            _ => return false,
        }
    }
}

/// The bytes of a string value.
///
/// # Safety
/// `value` must be a `jbvString` filled in by the iterator.
unsafe fn text(value: &pg_sys::JsonbValue) -> &[u8] {
    let string = unsafe { value.val.string };
    match usize::try_from(string.len) {
        // SAFETY: the iterator points val at len bytes inside the jsonb.
        Ok(len) if len > 0 => unsafe { std::slice::from_raw_parts(string.val.cast::<u8>(), len) },
        _ => &[],
    }
}

/// Whether `bytes` holds at most `max` characters of the database encoding.
fn chars_at_most(bytes: &[u8], max: usize) -> bool {
    // A character takes at least one byte: counting is needed only past max bytes.
    if bytes.len() <= max {
        return true;
    }
    let Ok(len) = i32::try_from(bytes.len()) else {
        return false;
    };
    // SAFETY: the pointer and length describe the slice.
    let chars = unsafe { pg_sys::pg_mbstrlen_with_len(bytes.as_ptr().cast(), len) };
    usize::try_from(chars).is_ok_and(|chars| chars <= max)
}

/// The container a `jbvBinary` value points to, when it is an object.
///
/// # Safety
/// `value` must have been filled in by the iterator.
unsafe fn object(value: &pg_sys::JsonbValue) -> Option<*mut pg_sys::JsonbContainer> {
    if value.type_ != jbvType::jbvBinary {
        return None;
    }
    let container = unsafe { value.val.binary.data };
    unsafe { shape(container) }.object.then_some(container)
}

/// The bytes of a value when it is a string.
///
/// # Safety
/// `value` must have been filled in by the iterator.
unsafe fn string(value: &pg_sys::JsonbValue) -> Option<&[u8]> {
    // SAFETY: text() reads only a string, which the test ensures.
    (value.type_ == jbvType::jbvString).then(|| unsafe { text(value) })
}

/// Whether `holds` is true of every pair of an object container, given the name's bytes and
/// the value (nested containers as `jbvBinary`); it stops at the first pair that fails.
///
/// # Safety
/// `container` must point to an object container of a detoasted jsonb.
unsafe fn every_pair(
    container: *mut pg_sys::JsonbContainer,
    mut holds: impl FnMut(&[u8], &pg_sys::JsonbValue) -> bool,
) -> bool {
    let mut pairs = unsafe { Members::of(container) };
    let mut key = empty_value();
    let mut value = empty_value();
    loop {
        match pairs.next(&mut key) {
            Token::WJB_BEGIN_OBJECT | Token::WJB_END_OBJECT => {}
            Token::WJB_KEY => {
                // SAFETY: a key is a string, filled in by the iterator.
                if pairs.next(&mut value) != Token::WJB_VALUE
                    || !holds(unsafe { text(&key) }, &value)
                {
                    return false;
                }
            }
            Token::WJB_DONE => return true,
            _ => return false,
        }
    }
}

/// One element of the batch: an object of send's fields, valid, and with no deduplication id
/// or delay (absent or null).
///
/// # Safety
/// `element` must have been filled in by the iterator.
unsafe fn message_is_plain(element: &pg_sys::JsonbValue) -> bool {
    let Some(container) = (unsafe { object(element) }) else {
        return false;
    };
    let mut has_body = false;
    // SAFETY (all below): the container is an object of this jsonb, and every value handed to
    // the closure was filled in by the iterator.
    let valid = unsafe {
        every_pair(container, |name, value| {
            let null = value.type_ == jbvType::jbvNull;
            let string = string(value);
            match name {
                b"body" => {
                    has_body =
                        string.is_some_and(|body| !body.is_empty() && body.len() <= MAX_BODY_BYTES);
                    has_body
                }
                b"label" => {
                    null || string.is_some_and(|label| chars_at_most(label, MAX_LABEL_CHARS))
                }
                b"attributes" => null || object(value).is_some_and(|a| attributes_are_valid(a)),
                b"group_id" => {
                    null || string.is_some_and(|group| {
                        !group.is_empty() && chars_at_most(group, MAX_GROUP_CHARS)
                    })
                }
                // Valid when set, but not plain: the general path writes them.
                b"deduplication_id" | b"delay_seconds" => null,
                _ => false,
            }
        })
    };
    valid && has_body
}

/// A message's attributes: at most 100 string values named by 1 to 256 characters, each value
/// at most 1,024 characters.
///
/// # Safety
/// `container` must point to an object container of a detoasted jsonb.
unsafe fn attributes_are_valid(container: *mut pg_sys::JsonbContainer) -> bool {
    unsafe { shape(container) }.size <= MAX_ATTRIBUTES
        // SAFETY: the container is an object of this jsonb; values come from the iterator.
        && unsafe {
            every_pair(container, |name, value| {
                string(value).is_some_and(|content| {
                    !name.is_empty()
                        && chars_at_most(name, MAX_ATTRIBUTE_NAME_CHARS)
                        && chars_at_most(content, MAX_ATTRIBUTE_VALUE_CHARS)
                })
            })
        }
}
