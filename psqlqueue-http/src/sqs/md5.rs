//! The MD5 digests SQS answers with, which the Java and Go SDKs check on every send and
//! receive: `MD5OfMessageBody` (hex MD5 of the body's UTF-8) and `MD5OfMessageAttributes`,
//! as the SQS Developer Guide's "Calculating the MD5 message digest for message attributes"
//! defines it: the attributes sorted by name; for each, its name, its data type and its value
//! each preceded by their length as 4 bytes big-endian, with one transport byte (1 for String
//! and Number, 2 for Binary) before the value; the MD5 of the whole.

use super::text::hex;
use md5::{Digest, Md5};

/// Hex MD5 of `bytes`.
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// `MD5OfMessageAttributes` of `(name, data type, value)` String or Number attributes (the
/// only kinds this API stores); `None` when there are none, as SQS leaves the member out.
pub(crate) fn md5_of_attributes<'a>(
    attributes: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Option<String> {
    let mut sorted: Vec<_> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Md5::new();
    for (name, data_type, value) in sorted {
        length_prefixed(&mut hasher, name.as_bytes());
        length_prefixed(&mut hasher, data_type.as_bytes());
        hasher.update([1u8]); // transport type: string (String and Number)
        length_prefixed(&mut hasher, value.as_bytes());
    }
    Some(hex(&hasher.finalize()))
}

fn length_prefixed(hasher: &mut Md5, bytes: &[u8]) {
    // An attribute's parts are bounded far below 4 GiB by the request size.
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(length.to_be_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod unit {
    use super::*;

    // Expected values computed independently, in Python, from the Developer Guide's algorithm:
    //   lp = lambda b: struct.pack('>I', len(b)) + b
    //   hashlib.md5(b''.join(lp(n.encode()) + lp(t.encode()) + b'\x01' + lp(v.encode())
    //                        for n, (t, v) in sorted(attrs.items()))).hexdigest()
    #[test]
    fn body_digest_is_md5_of_the_utf8() {
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            md5_hex("héllo ✓".as_bytes()),
            "21b1ae5bc147bb564254200a4731e337"
        );
    }

    #[test]
    fn attribute_digest_follows_the_developer_guide() {
        assert_eq!(
            md5_of_attributes([("color", "String", "red")]).as_deref(),
            Some("20ca9041878c8c65d5a4bf6eaf446c21")
        );
        // Sorted by name whatever the order given; custom type labels are part of the type.
        assert_eq!(
            md5_of_attributes([
                ("price", "Number", "9.99"),
                ("note", "String.custom", "héllo ✓"),
                ("color", "String", "red"),
            ])
            .as_deref(),
            Some("ee56f5f5659797bb2dd8844833230d05")
        );
        assert_eq!(
            md5_of_attributes([("a", "Number.int", "42")]).as_deref(),
            Some("58463be07be8ca02f32733ac81c0e665")
        );
        assert_eq!(md5_of_attributes([]), None);
    }
}
