//! Message attributes: SQS's typed attributes onto the extension's string map, and back.
//!
//! A message's `attributes` (jsonb) map names to string values. An SQS attribute of type
//! String (exactly) is stored as `name: value`; so is a Number or a custom-labelled type
//! (`Number.int`, `String.json`), whose data type is also recorded under the reserved key
//! [`TYPES_KEY`], a JSON object of name to data type written as a string. That key starts
//! with `AWS.`, which SQS reserves, so no SQS attribute can take it; ReceiveMessage reads the
//! types back and never returns the key itself. Attributes sent over REST or SQL (plain
//! strings) come back over SQS as String attributes.
//!
//! Binary attributes (and the list types SQS reserves) are refused: the extension stores text.

use super::error::SqsError;
use super::md5;
use super::urls::shorten;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The reserved attribute holding the data types that are not plain String.
pub(crate) const TYPES_KEY: &str = "AWS.psqlqueue.DataTypes";
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
    let base = data_type.split('.').next().unwrap_or_default();
    if data_type.len() > 256 || !matches!(base, "String" | "Number" | "Binary") {
        return Err(SqsError::invalid(format!(
            "The type of message (user) attribute '{shown}' is invalid: it must be String, \
             Number or Binary, optionally followed by a '.' and a label."
        )));
    }
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

/// The characters SQS allows in bodies and attribute values (XML's): tab, newline, carriage
/// return, and U+0020 and above but for surrogates (which a Rust string cannot hold) and
/// U+FFFE/U+FFFF.
pub(crate) fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The attributes as the extension stores them (`None` for none).
pub(crate) fn to_stored(attributes: &[Attribute]) -> Option<Value> {
    if attributes.is_empty() {
        return None;
    }
    let mut stored = Map::new();
    let mut types = Map::new();
    for attribute in attributes {
        stored.insert(
            attribute.name.clone(),
            Value::String(attribute.value.clone()),
        );
        if attribute.data_type != "String" {
            types.insert(
                attribute.name.clone(),
                Value::String(attribute.data_type.clone()),
            );
        }
    }
    if !types.is_empty() {
        stored.insert(
            TYPES_KEY.to_owned(),
            Value::String(Value::Object(types).to_string()),
        );
    }
    Some(Value::Object(stored))
}

/// A stored message's attributes, typed again, in name order.
pub(crate) fn from_stored(stored: &Value) -> Vec<Attribute> {
    let Some(map) = stored.as_object() else {
        return Vec::new();
    };
    let types: Map<String, Value> = map
        .get(TYPES_KEY)
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut attributes: Vec<Attribute> = map
        .iter()
        .filter(|(name, _)| name.as_str() != TYPES_KEY)
        .filter_map(|(name, value)| {
            Some(Attribute {
                name: name.clone(),
                data_type: types
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or("String")
                    .to_owned(),
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
        assert_eq!(stored["color"], "red");
        assert_eq!(stored["price"], "9.99");
        assert!(
            stored[TYPES_KEY]
                .as_str()
                .is_some_and(|t| t.contains("Number"))
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
