//! Lowercase hexadecimal text of random bytes, for receipts and API tokens.
//!
//! Written digit by digit from a table: through `write!("{:02x}")` a receipt took about 4,500
//! instructions, 3,700 of them formatting (callgrind, receive(10) + ack_batch: 45k of a cycle's
//! 2,115k).

/// The lowercase hexadecimal digits, by value.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` to `text` as lowercase hexadecimal, two digits per byte, high nibble first.
pub(crate) fn push_hex(text: &mut String, bytes: &[u8]) {
    text.reserve(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod unit {
    use super::push_hex;

    fn hex(bytes: &[u8]) -> String {
        let mut text = String::new();
        push_hex(&mut text, bytes);
        text
    }

    #[test]
    fn hex_writes_every_byte_as_two_lowercase_digits() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let expected: String = every_byte
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(hex(&every_byte), expected);
        assert_eq!(hex(&[0x00, 0x0f, 0xf0, 0xab]), "000ff0ab");
        assert_eq!(hex(&[]), "");
    }
}
