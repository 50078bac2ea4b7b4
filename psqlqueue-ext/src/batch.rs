//! send_batch's fast path: whether a batch is one its common path may write as it is.
//!
//! A batch is *plain* when it is a JSON array of 1 to 1,000 valid message objects none of which
//! has a deduplication id or a delay of its own. The rules are sql/checks.sql's
//! (`batch_message_is_valid`, `message_is_valid`; `check_batch_messages` words what is wrong);
//! this walks the jsonb's binary form once instead of running their JSON path queries per
//! element, which cost a fifth of a send_batch of ten (callgrind, one backend: the call went from
//! 1,529k to 1,181k instructions in 0.12.0). `false` only sends the batch down
//! send_batch's general path, which checks it with the SQL rules; the pgrx test
//! `checks::batch_is_plain_agrees_with_the_sql_rules` holds this to them at every boundary.
//!
//! It reads the jsonb's binary form directly: a container is a header (kind and size) and one
//! 32-bit entry per child (type, and length or end offset) followed by the children's bytes
//! (PostgreSQL's `jsonb.h`). PostgreSQL's own iterator, which this used until 0.16.0, allocates
//! and fills a value per token: 33.5k of a send_batch of ten's instructions, where this read
//! takes 3.7k (callgrind); pgrx's `JsonB` would print the value as text and parse it again with
//! serde_json.

use pgrx::pg_sys;
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
    'Internal: true when send_batch may write the batch by its common path: a JSON array of 1 to 1000 '
    'valid message objects without deduplication ids or delays of their own.';
"#)]
fn batch_is_plain(fcinfo: pg_sys::FunctionCallInfo) -> bool {
    // SAFETY: the SQL declaration makes the one argument a jsonb and the function STRICT, so
    // argument 0 is a non-null jsonb datum; detoasting gives its whole binary form (with a
    // 4-byte header, so the root container is 4-byte aligned), which this module reads.
    unsafe {
        let datum = pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, 0);
        let jsonb = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()).cast::<pg_sys::Jsonb>();
        messages_are_plain(&raw const (*jsonb).root)
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

/// One child of a container: its type (`JENTRY_IS*`) and where its bytes start and end,
/// relative to the start of the container's data.
#[derive(Clone, Copy)]
struct Child {
    kind: u32,
    start: usize,
    end: usize,
}

/// A run of a container's children in order, read from its entries. An entry holds the
/// child's length, or (every 32nd, flagged) its end offset, so the running end of the previous
/// child gives each child's start.
struct Children {
    entries: *const u32,
    next: usize,
    stop: usize,
    offset: usize,
}

impl Iterator for Children {
    type Item = Child;

    fn next(&mut self) -> Option<Child> {
        if self.next == self.stop {
            return None;
        }
        // SAFETY: next < stop <= the container's number of entries (Container::children).
        let entry = unsafe { *self.entries.add(self.next) };
        let length_or_end = (entry & pg_sys::JENTRY_OFFLENMASK) as usize;
        let start = self.offset;
        let end = if entry & pg_sys::JENTRY_HAS_OFF != 0 {
            length_or_end
        } else {
            start + length_or_end
        };
        self.next += 1;
        self.offset = end;
        Some(Child {
            kind: entry & pg_sys::JENTRY_TYPEMASK,
            start,
            end,
        })
    }
}

/// A container of a detoasted jsonb: its entries and the data after them.
struct Container {
    entries: *const u32,
    data: *const u8,
}

impl Container {
    /// # Safety
    /// `container` must point to a valid container of a detoasted jsonb, holding `entries`
    /// entries (its size for an array, twice it for an object: keys, then values).
    unsafe fn of(container: *const pg_sys::JsonbContainer, entries: usize) -> Self {
        // SAFETY: the entries follow the 4-byte header, and the data follows the entries.
        let first = unsafe { container.cast::<u32>().add(1) };
        Self {
            entries: first,
            data: unsafe { first.add(entries) }.cast::<u8>(),
        }
    }

    /// Children `from..to` of this container; `offset` is where child `from` starts.
    fn children(&self, from: usize, to: usize, offset: usize) -> Children {
        Children {
            entries: self.entries,
            next: from,
            stop: to,
            offset,
        }
    }

    /// A string child's bytes.
    ///
    /// # Safety
    /// `child` must be a child of this container.
    unsafe fn bytes(&self, child: Child) -> &[u8] {
        // SAFETY: the entries put the child's bytes at start..end of the data.
        unsafe { std::slice::from_raw_parts(self.data.add(child.start), child.end - child.start) }
    }

    /// The container a container child holds, when it is an object.
    ///
    /// # Safety
    /// `child` must be a child of this container.
    unsafe fn object(&self, child: Child) -> Option<*const pg_sys::JsonbContainer> {
        if child.kind != pg_sys::JENTRY_ISCONTAINER {
            return None;
        }
        // A nested container starts at the next 4-byte boundary of the data (INTALIGN).
        let nested = unsafe { self.data.add(child.start.next_multiple_of(4)) }
            .cast::<pg_sys::JsonbContainer>();
        unsafe { shape(nested) }.object.then_some(nested)
    }
}

/// # Safety
/// `root` must point to the root container of a detoasted jsonb.
unsafe fn messages_are_plain(root: *const pg_sys::JsonbContainer) -> bool {
    let top = unsafe { shape(root) };
    if !top.array || top.scalar || top.size == 0 || top.size > MAX_MESSAGES {
        return false;
    }
    let size = top.size as usize;
    // SAFETY: an array has one entry per element.
    let array = unsafe { Container::of(root, size) };
    array.children(0, size, 0).all(|element| {
        // SAFETY: the element is a child of the array, and an object it holds is a
        // container of the same jsonb.
        unsafe { array.object(element) }.is_some_and(|message| unsafe { message_is_plain(message) })
    })
}

/// Whether `holds` is true of every pair of an object container, given the name's bytes, the
/// value and the container they are in; it stops at the first pair that fails.
///
/// # Safety
/// `object` must point to an object container of a detoasted jsonb.
unsafe fn every_pair(
    object: *const pg_sys::JsonbContainer,
    mut holds: impl FnMut(&[u8], Child, &Container) -> bool,
) -> bool {
    let size = unsafe { shape(object) }.size as usize;
    // SAFETY: an object has an entry per key, then one per value.
    let pairs = unsafe { Container::of(object, 2 * size) };
    // The values' bytes follow the keys': PostgreSQL's getJsonbOffset finds where the first
    // value starts from the nearest stored end offset, without a pass over the keys.
    // SAFETY: the object has 2 * size entries, so entry `size` exists when size > 0 (and its
    // offset, the end of the keys, is 0 when size is 0). A size has 28 bits (JB_CMASK): the
    // cast to int keeps it.
    let values_start = unsafe { pg_sys::getJsonbOffset(object, size as i32) } as usize;
    pairs
        .children(0, size, 0)
        .zip(pairs.children(size, 2 * size, values_start))
        // SAFETY: a key is a string child of this object.
        .all(|(key, value)| holds(unsafe { pairs.bytes(key) }, value, &pairs))
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

/// A child's bytes when it is a string.
///
/// # Safety
/// `child` must be a child of `container`.
unsafe fn string(container: &Container, child: Child) -> Option<&[u8]> {
    // SAFETY: bytes() reads the child, which the test makes a string.
    (child.kind == pg_sys::JENTRY_ISSTRING).then(|| unsafe { container.bytes(child) })
}

/// One element of the batch: an object of send's fields, valid, and with no deduplication id
/// or delay (absent or null).
///
/// # Safety
/// `message` must point to an object container of a detoasted jsonb.
unsafe fn message_is_plain(message: *const pg_sys::JsonbContainer) -> bool {
    let mut has_body = false;
    // SAFETY (all below): every value handed to the closure is a child of the container
    // handed with it, an object of this jsonb.
    let valid = unsafe {
        every_pair(message, |name, value, pairs| {
            let null = value.kind == pg_sys::JENTRY_ISNULL;
            let string = string(pairs, value);
            match name {
                b"body" => {
                    has_body =
                        string.is_some_and(|body| !body.is_empty() && body.len() <= MAX_BODY_BYTES);
                    has_body
                }
                b"label" => {
                    null || string.is_some_and(|label| chars_at_most(label, MAX_LABEL_CHARS))
                }
                b"attributes" => {
                    null || pairs
                        .object(value)
                        .is_some_and(|attributes| attributes_are_valid(attributes))
                }
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
/// `attributes` must point to an object container of a detoasted jsonb.
unsafe fn attributes_are_valid(attributes: *const pg_sys::JsonbContainer) -> bool {
    unsafe { shape(attributes) }.size <= MAX_ATTRIBUTES
        // SAFETY: the container is an object of this jsonb; values are its children.
        && unsafe {
            every_pair(attributes, |name, value, pairs| {
                string(pairs, value).is_some_and(|content| {
                    !name.is_empty()
                        && chars_at_most(name, MAX_ATTRIBUTE_NAME_CHARS)
                        && chars_at_most(content, MAX_ATTRIBUTE_VALUE_CHARS)
                })
            })
        }
}
