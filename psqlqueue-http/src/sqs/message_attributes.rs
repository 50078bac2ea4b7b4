//! Message attributes: SQS's typed attributes onto the extension's string map, and back.
//!
//! A message's `attributes` (jsonb) map names to string values. An SQS attribute of type
//! String (exactly) is stored as `name: value`; so is a Number or a custom-labelled type
//! (`Number.int`, `String.json`), whose data type is also kept under a reserved key of its
//! own, [`type_key`]: `AWS.psqlqueue.DataType.<name>: <data type>`. One key per typed
//! attribute, so each stays within the extension's limits on a name (256 characters) and a
//! value (1024) however many a message has; a name too long to follow the prefix within 256
//! characters gets `AWS.psqlqueue.DataTypeMd5.<hex MD5 of the name>` instead.
//!
//! Every reserved key starts with [`RESERVED_PREFIX`]: `AWS.` is SQS's reserved prefix, so no
//! SQS attribute can take one, and ReceiveMessage reads the types back and never returns the
//! keys themselves (nor counts them in MD5OfMessageAttributes). Messages stored before, with
//! every type in one JSON object under `AWS.psqlqueue.DataTypes`, are read as well. A data
//! type read back is used only if it is one a send could have stored (String or Number,
//! optionally labelled); anything else, as a REST or SQL writer might leave, reads as String.
//! Attributes sent over REST or SQL (plain strings) come back over SQS as String attributes.
//!
//! Binary attributes (and the list types SQS reserves) are refused: the extension stores text.

use super::error::SqsError;
use super::md5::{self, md5_hex};
use super::text::{allowed_char, shorten};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The prefix of every key the sidecar keeps in a message's attributes for itself; SQS
/// receives hide every attribute under it.
pub(crate) const RESERVED_PREFIX: &str = "AWS.psqlqueue.";
/// The prefix of the key keeping one attribute's data type, followed by its name.
const TYPE_PREFIX: &str = "AWS.psqlqueue.DataType.";
/// The prefix of the key keeping the data type of an attribute whose name is too long for
/// [`TYPE_PREFIX`], followed by the hex MD5 of its name. It differs from `TYPE_PREFIX`
/// before the latter's final `.`, so no name can make the two keys equal.
const HASHED_TYPE_PREFIX: &str = "AWS.psqlqueue.DataTypeMd5.";
/// Where earlier versions kept every data type that is not plain String, as one JSON object
/// (name to data type) written as a string; read only.
const LEGACY_TYPES_KEY: &str = "AWS.psqlqueue.DataTypes";
/// The extension's longest attribute name, in characters (check_message, checks.sql).
const MAX_STORED_NAME_CHARS: usize = 256;
/// SQS's longest data type, in bytes.
const MAX_DATA_TYPE_BYTES: usize = 256;
/// SQS's most attributes per message.
const MAX_ATTRIBUTES: usize = 10;

/// One attribute as SQS sends it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AttributeValue {
    data_type: Option<String>,
    string_value: Option<String>,
    binary_value: Option<Value>,
    #[serde(default)]
    string_list_values: Vec<Value>,
    #[serde(default)]
    binary_list_values: Vec<Value>,
}

/// A typed attribute: name, data type, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribute {
    pub name: String,
    pub data_type: String,
    pub value: String,
}

/// The attributes of a send, checked against SQS's rules, in name order.
pub(crate) fn parse(
    attributes: Option<BTreeMap<String, AttributeValue>>,
) -> Result<Vec<Attribute>, SqsError> {
    let attributes = attributes.unwrap_or_default();
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(SqsError::invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    attributes
        .into_iter()
        .map(|(name, value)| check(name, value))
        .collect()
}

/// A send's MessageSystemAttributes: AWSTraceHeader, a String, is the only one SQS takes.
pub(crate) fn parse_system(
    attributes: Option<BTreeMap<String, AttributeValue>>,
) -> Result<Vec<Attribute>, SqsError> {
    attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            if name != "AWSTraceHeader" {
                return Err(SqsError::invalid(format!(
                    "Message system attribute name '{}' is invalid: only AWSTraceHeader is \
                     allowed.",
                    shorten(&name)
                )));
            }
            match (value.data_type.as_deref(), value.string_value) {
                (Some("String"), Some(text)) if !text.is_empty() => Ok(Attribute {
                    name,
                    data_type: "String".to_owned(),
                    value: text,
                }),
                _ => Err(SqsError::invalid(
                    "The message system attribute AWSTraceHeader must be a non-empty String.",
                )),
            }
        })
        .collect()
}

fn check(name: String, value: AttributeValue) -> Result<Attribute, SqsError> {
    check_name(&name)?;
    let shown = shorten(&name);
    let data_type = value.data_type.unwrap_or_default();
    if data_type.is_empty() {
        return Err(SqsError::invalid(format!(
            "The message attribute '{shown}' must contain non-empty message attribute type."
        )));
    }
    let Some(base) = base_type(&data_type) else {
        return Err(SqsError::invalid(format!(
            "The type of message (user) attribute '{shown}' is invalid: it must be String, \
             Number or Binary, optionally followed by a '.' and a label."
        )));
    };
    if base == "Binary" || value.binary_value.is_some() {
        return Err(SqsError::invalid(format!(
            "The message attribute '{shown}' is Binary: psqlqueue stores String and Number \
             attributes only."
        )));
    }
    if !value.string_list_values.is_empty() || !value.binary_list_values.is_empty() {
        return Err(SqsError::invalid(format!(
            "The message attribute '{shown}' uses list values, which SQS reserves and \
             psqlqueue does not support."
        )));
    }
    let text = value.string_value.unwrap_or_default();
    if text.is_empty() {
        return Err(SqsError::invalid(format!(
            "The message attribute '{shown}' must contain a non-empty message attribute value \
             for message attribute type '{data_type}'."
        )));
    }
    if !text.chars().all(allowed_char) {
        return Err(SqsError::invalid(format!(
            "The message attribute '{shown}' contains characters outside the allowed set."
        )));
    }
    if base == "Number" && !is_number(&text) {
        return Err(SqsError::invalid(format!(
            "Can't cast the value of message (user) attribute '{shown}' to a number."
        )));
    }
    Ok(Attribute {
        name,
        data_type,
        value: text,
    })
}

/// SQS's rules for attribute names.
fn check_name(name: &str) -> Result<(), SqsError> {
    let shown = shorten(name);
    let lower = name.to_ascii_lowercase();
    let reason = if name.is_empty() || name.len() > 256 {
        Some("must be 1 to 256 characters long")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    {
        Some("can contain only alphanumeric characters, '_', '-' and '.'")
    } else if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        Some("must not start with the reserved prefixes AWS. or Amazon.")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("must not start or end with a period or have periods in succession")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SqsError::invalid(format!(
            "Message (user) attribute name '{shown}' is invalid: it {reason}."
        ))),
        None => Ok(()),
    }
}

/// Whether `text` reads as a number (digits, an optional sign, fraction and exponent).
fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(whole.is_empty() && fraction.is_empty())
        && digits(whole)
        && digits(fraction)
        && exponent.is_none_or(|e| !e.is_empty() && digits(e))
}

/// The base type of a data type as SQS allows it: `String`, `Number` or `Binary`, alone or
/// followed by `.` and a non-empty label, at most 256 bytes of the characters allowed in
/// message text; `None` for anything else.
fn base_type(data_type: &str) -> Option<&str> {
    if data_type.is_empty()
        || data_type.len() > MAX_DATA_TYPE_BYTES
        || !data_type.chars().all(allowed_char)
    {
        return None;
    }
    let base = match data_type.split_once('.') {
        Some((_, "")) => return None,
        Some((base, _)) => base,
        None => data_type,
    };
    matches!(base, "String" | "Number" | "Binary").then_some(base)
}

/// Whether a data type read back from a stored message is one a send could have stored: a
/// String or Number type (Binary is never stored).
fn storable_type(data_type: &str) -> bool {
    matches!(base_type(data_type), Some("String" | "Number"))
}

/// The reserved key keeping the data type of attribute `name`:
/// `AWS.psqlqueue.DataType.<name>`, or `AWS.psqlqueue.DataTypeMd5.<hex MD5 of name>` when that
/// would be longer than the extension allows a name. Written and read by this one rule.
fn type_key(name: &str) -> String {
    if TYPE_PREFIX.len() + name.chars().count() <= MAX_STORED_NAME_CHARS {
        format!("{TYPE_PREFIX}{name}")
    } else {
        format!("{HASHED_TYPE_PREFIX}{}", md5_hex(name.as_bytes()))
    }
}

/// The attributes as the extension stores them (`None` for none): each value under its name,
/// and each data type other than plain String under its [`type_key`].
pub(crate) fn to_stored(attributes: &[Attribute]) -> Option<Value> {
    if attributes.is_empty() {
        return None;
    }
    let mut stored = Map::new();
    for attribute in attributes {
        stored.insert(
            attribute.name.clone(),
            Value::String(attribute.value.clone()),
        );
        if attribute.data_type != "String" {
            stored.insert(
                type_key(&attribute.name),
                Value::String(attribute.data_type.clone()),
            );
        }
    }
    Some(Value::Object(stored))
}

/// A stored message's attributes, typed again, in name order: the reserved keys left out, each
/// attribute's data type read from its [`type_key`], else from the single JSON object older
/// versions wrote, else String. A stored type that is not a String or Number type (written by
/// REST or SQL, or damaged) is ignored.
pub(crate) fn from_stored(stored: &Value) -> Vec<Attribute> {
    let Some(map) = stored.as_object() else {
        return Vec::new();
    };
    let legacy: Map<String, Value> = map
        .get(LEGACY_TYPES_KEY)
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut attributes: Vec<Attribute> = map
        .iter()
        .filter(|(name, _)| !name.starts_with(RESERVED_PREFIX))
        .filter_map(|(name, value)| {
            let data_type = [map.get(&type_key(name)), legacy.get(name)]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|data_type| storable_type(data_type))
                .unwrap_or("String");
            Some(Attribute {
                name: name.clone(),
                data_type: data_type.to_owned(),
                value: value.as_str()?.to_owned(),
            })
        })
        .collect();
    attributes.sort_by(|a, b| a.name.cmp(&b.name));
    attributes
}

/// The attributes ReceiveMessage's MessageAttributeNames select: `All` or `.*` every one,
/// `prefix.*` those whose names start with `prefix.`, other entries by name.
pub(crate) fn select(attributes: Vec<Attribute>, names: &[String]) -> Vec<Attribute> {
    if names.iter().any(|n| n == "All" || n == ".*") {
        return attributes;
    }
    attributes
        .into_iter()
        .filter(|attribute| {
            names.iter().any(|wanted| match wanted.strip_suffix('*') {
                Some(prefix) if prefix.ends_with('.') => attribute.name.starts_with(prefix),
                _ => *wanted == attribute.name,
            })
        })
        .collect()
}

/// MD5OfMessageAttributes of `attributes`.
pub(crate) fn md5(attributes: &[Attribute]) -> Option<String> {
    md5::md5_of_attributes(
        attributes
            .iter()
            .map(|a| (a.name.as_str(), a.data_type.as_str(), a.value.as_str())),
    )
}

/// The attributes as ReceiveMessage writes them (`None` for none).
pub(crate) fn to_wire(attributes: &[Attribute]) -> Option<Value> {
    if attributes.is_empty() {
        return None;
    }
    let map: Map<String, Value> = attributes
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                serde_json::json!({"StringValue": a.value, "DataType": a.data_type}),
            )
        })
        .collect();
    Some(Value::Object(map))
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::sqs::error::Code;

    fn value(data_type: &str, text: &str) -> AttributeValue {
        AttributeValue {
            data_type: Some(data_type.to_owned()),
            string_value: Some(text.to_owned()),
            ..AttributeValue::default()
        }
    }

    fn sent(pairs: &[(&str, &str, &str)]) -> Result<Vec<Attribute>, SqsError> {
        parse(Some(
            pairs
                .iter()
                .map(|(n, t, v)| ((*n).to_owned(), value(t, v)))
                .collect(),
        ))
    }

    #[test]
    fn types_round_trip_through_the_stored_map() {
        let Ok(attributes) = sent(&[
            ("color", "String", "red"),
            ("price", "Number", "9.99"),
            ("note", "String.custom", "hi"),
        ]) else {
            panic!("valid attributes refused");
        };
        let stored = to_stored(&attributes).unwrap_or_default();
        assert_eq!(
            stored,
            serde_json::json!({
                "color": "red",
                "price": "9.99",
                "note": "hi",
                "AWS.psqlqueue.DataType.price": "Number",
                "AWS.psqlqueue.DataType.note": "String.custom",
            })
        );
        assert_eq!(from_stored(&stored), attributes);
        // Attributes written by REST or SQL are Strings.
        assert_eq!(
            from_stored(&serde_json::json!({"k": "v"})),
            vec![Attribute {
                name: "k".into(),
                data_type: "String".into(),
                value: "v".into()
            }]
        );
    }

    /// Whether `stored` passes the extension's check_message (checks.sql): at most 100
    /// attributes, names of 1 to 256 characters, string values of at most 1024.
    fn fits_the_extension(stored: &Value) -> bool {
        stored.as_object().is_some_and(|map| {
            map.len() <= 100
                && map.iter().all(|(name, value)| {
                    (1..=256).contains(&name.chars().count())
                        && value.as_str().is_some_and(|v| v.chars().count() <= 1024)
                })
        })
    }

    #[test]
    fn every_typed_attribute_fits_however_many_and_however_long_their_names() {
        // Ten Number attributes with names of 256 characters: one JSON object of their types
        // would be far over a value's 1024 characters.
        let names: Vec<String> = (0..10).map(|i| format!("{i}{}", "n".repeat(255))).collect();
        let pairs: Vec<(&str, &str, &str)> = names
            .iter()
            .map(|n| (n.as_str(), "Number.long-label", "42"))
            .collect();
        let Ok(attributes) = sent(&pairs) else {
            panic!("valid attributes refused");
        };
        let stored = to_stored(&attributes).unwrap_or_default();
        assert!(fits_the_extension(&stored), "{stored}");
        assert_eq!(from_stored(&stored), attributes);
        // A name that fits after the prefix is spelled out; a longer one is hashed.
        let short = "s".repeat(MAX_STORED_NAME_CHARS - TYPE_PREFIX.len());
        assert_eq!(type_key(&short), format!("{TYPE_PREFIX}{short}"));
        let long = format!("{short}s");
        assert_eq!(
            type_key(&long),
            format!("{HASHED_TYPE_PREFIX}{}", md5_hex(long.as_bytes()))
        );
        assert!(type_key(&long).len() <= MAX_STORED_NAME_CHARS);
    }

    #[test]
    fn messages_stored_with_one_json_object_of_types_still_read() {
        let stored = serde_json::json!({
            "color": "red",
            "price": "9.99",
            "AWS.psqlqueue.DataTypes": r#"{"price": "Number"}"#,
        });
        let typed = from_stored(&stored);
        assert_eq!(
            typed
                .iter()
                .map(|a| (a.name.as_str(), a.data_type.as_str()))
                .collect::<Vec<_>>(),
            [("color", "String"), ("price", "Number")]
        );
        // The digest is SQS's over the user's attributes with their types.
        assert_eq!(
            md5(&typed).as_deref(),
            Some("4101c120590a5abb1085e1adcab947ec")
        );
        // A per-attribute key wins over the old object; garbage in the old key is ignored.
        let both = serde_json::json!({
            "price": "9.99",
            "AWS.psqlqueue.DataType.price": "Number.cents",
            "AWS.psqlqueue.DataTypes": r#"{"price": "Number"}"#,
        });
        assert_eq!(from_stored(&both)[0].data_type, "Number.cents");
        for garbage in ["not json", "[1, 2]", r#"{"price": 7}"#, ""] {
            let stored = serde_json::json!({"price": "9.99", "AWS.psqlqueue.DataTypes": garbage});
            assert_eq!(from_stored(&stored)[0].data_type, "String", "{garbage}");
        }
    }

    #[test]
    fn a_stored_type_a_send_could_not_have_written_reads_as_string() {
        for stored_type in [
            serde_json::json!("Binary"),
            serde_json::json!("Binary.x"),
            serde_json::json!("Text"),
            serde_json::json!("String."),
            serde_json::json!("Number."),
            serde_json::json!("StringX"),
            serde_json::json!(""),
            serde_json::json!("Number.\u{0}"),
            serde_json::json!(format!("Number.{}", "x".repeat(300))),
            serde_json::json!(12),
            serde_json::json!(null),
            serde_json::json!({"DataType": "Number"}),
        ] {
            let stored = serde_json::json!({
                "n": "1",
                "AWS.psqlqueue.DataType.n": stored_type.clone(),
                "AWS.psqlqueue.DataTypes": serde_json::json!({"n": stored_type}).to_string(),
            });
            assert_eq!(
                from_stored(&stored),
                vec![Attribute {
                    name: "n".into(),
                    data_type: "String".into(),
                    value: "1".into()
                }],
                "{stored}"
            );
        }
        for good in [
            "String",
            "Number",
            "String.json",
            "Number.int",
            "Number.a.b",
        ] {
            let stored = serde_json::json!({"n": "1", "AWS.psqlqueue.DataType.n": good});
            assert_eq!(from_stored(&stored)[0].data_type, good);
        }
        // Every reserved key is hidden, a non-string value skipped, a non-object nothing.
        let stored = serde_json::json!({"AWS.psqlqueue.Other": "x", "k": 5, "v": "w"});
        assert_eq!(from_stored(&stored).len(), 1);
        assert!(from_stored(&serde_json::json!("text")).is_empty());
    }

    #[test]
    fn sqs_rules_for_attributes_are_enforced() {
        for bad in [
            ("AWS.x", "String", "v"),
            ("amazon.x", "String", "v"),
            (".x", "String", "v"),
            ("a..b", "String", "v"),
            ("sp ace", "String", "v"),
            ("n", "Number", "12abc"),
            ("n", "Number", ""),
            ("b", "Binary", "AAAA"),
            ("t", "Text", "v"),
            ("t", "String.", "v"),
            ("t", "Number.", "1"),
            ("t", "Stringx", "v"),
            ("t", "String.\u{1}", "v"),
            ("s", "String", "nul\u{0}"),
        ] {
            assert_eq!(
                sent(&[bad]).map_err(|e| e.code).err(),
                Some(Code::InvalidParameterValue),
                "{bad:?}"
            );
        }
        let eleven: Vec<(String, AttributeValue)> = (0..11)
            .map(|i| (format!("a{i}"), value("String", "v")))
            .collect();
        assert!(parse(Some(eleven.into_iter().collect())).is_err());
        for number in ["1", "-1.5", "+2e10", ".5", "5.", "1E-3"] {
            assert!(is_number(number), "{number}");
        }
        for not_number in ["", ".", "e5", "1e", "0x10", "NaN", "inf"] {
            assert!(!is_number(not_number), "{not_number}");
        }
    }

    #[test]
    fn names_select_all_by_name_or_by_prefix() {
        let Ok(attributes) = sent(&[
            ("a.one", "String", "1"),
            ("a.two", "String", "2"),
            ("b", "String", "3"),
        ]) else {
            panic!("valid attributes refused");
        };
        let names = |list: &[&str]| -> Vec<String> {
            select(
                attributes.clone(),
                &list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
            .into_iter()
            .map(|a| a.name)
            .collect()
        };
        assert_eq!(names(&["All"]).len(), 3);
        assert_eq!(names(&[".*"]).len(), 3);
        assert_eq!(names(&["a.*"]), ["a.one", "a.two"]);
        assert_eq!(names(&["b", "c"]), ["b"]);
        assert!(names(&[]).is_empty());
    }
}
