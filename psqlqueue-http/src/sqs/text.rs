//! Small text helpers the SQS modules share: hex for digests and signatures, the characters
//! SQS allows in message text, and client text cut short for error messages.

/// Lowercase hex of `bytes` (the digests SQS answers, Signature V4's hashes and signatures).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Hex digits (either case) as bytes; `None` unless `text` is an even number of hex digits.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    // Checked first: `from_str_radix` alone would also take a sign (`+f`).
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// The characters SQS allows in bodies, attribute values and data types (XML's): tab,
/// newline, carriage return, and U+0020 and above but for surrogates (which a Rust string
/// cannot hold) and U+FFFE/U+FFFF.
pub(crate) fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// At most 100 characters of client text, for error messages.
pub(crate) fn shorten(text: &str) -> String {
    text.chars().take(100).collect()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(unhex("000fa5ff"), Some(vec![0x00, 0x0f, 0xa5, 0xff]));
        assert_eq!(unhex("000FA5FF"), Some(vec![0x00, 0x0f, 0xa5, 0xff]));
        assert_eq!(unhex(""), Some(Vec::new()));
        for bad in ["0", "0g", "+f", "-1", " 1", "é1"] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
    }

    #[test]
    fn allowed_characters_are_xmls() {
        for c in ['\t', '\n', '\r', ' ', 'é', '\u{FFFD}', '😀'] {
            assert!(allowed_char(c), "{c:?}");
        }
        for c in ['\u{0}', '\u{8}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!allowed_char(c), "{c:?}");
        }
    }

    #[test]
    fn shorten_counts_characters_not_bytes() {
        assert_eq!(shorten("short"), "short");
        assert_eq!(shorten(&"é".repeat(150)).chars().count(), 100);
    }
}
