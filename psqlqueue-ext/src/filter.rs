//! Subscription filters: the validator. Matching lives in one SQL function,
//! `psqlqueue.filter_matches` (sql/pubsub.sql), so publish evaluates filters inside its single
//! INSERT ... SELECT; both halves change together when operators are added.
//!
//! The accepted form maps an attribute name to a non-empty array of strings:
//! `{"status": ["processed", "shipped"], "region": ["eu"]}`. A message matches when every key
//! is among its attributes with one of the listed values. Limits, as for message attributes:
//! at most 100 names of 1 to 256 characters, at most 100 values per name, values at most 1,024
//! characters.
//!
//! The SQL function takes the filter as text (create_subscription passes `jsonb::text`) and
//! parses it here, so that every parse failure is an error we word: converting a jsonb
//! argument happens before our code runs and fails on input such as nesting deeper than
//! serde_json's limit or numbers beyond f64, which would surface as an internal error (XX000).

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::Value;

/// Most attribute names one filter may test.
const MAX_KEYS: usize = 100;
/// Most values one name may list.
const MAX_VALUES: usize = 100;
/// Longest attribute name, in characters.
const MAX_NAME_CHARS: usize = 256;
/// Longest value, in characters.
const MAX_VALUE_CHARS: usize = 1024;

/// What is wrong with a filter, in words for the user.
pub type FilterError = String;

/// Checks a filter's shape and returns it normalised: `None` for no filter (SQL NULL or `{}`).
pub fn normalize(filters: Option<&Value>) -> Result<Option<Value>, FilterError> {
    let Some(filters) = filters else {
        return Ok(None);
    };
    let Value::Object(map) = filters else {
        return Err(format!(
            "must be a JSON object mapping attribute names to arrays of strings, got {}",
            kind(filters)
        ));
    };
    if map.is_empty() {
        return Ok(None);
    }
    if map.len() > MAX_KEYS {
        return Err(format!(
            "must test at most {MAX_KEYS} attributes, got {}",
            map.len()
        ));
    }
    for (key, allowed) in map {
        let name_chars = key.chars().count();
        if name_chars == 0 {
            return Err("attribute names must be non-empty".to_owned());
        }
        if name_chars > MAX_NAME_CHARS {
            return Err(format!(
                "attribute names must be at most {MAX_NAME_CHARS} characters, got one of {name_chars}"
            ));
        }
        let key = shorten(key);
        let Value::Array(values) = allowed else {
            return Err(format!(
                "{key:?} must map to an array of strings, got {}",
                kind(allowed)
            ));
        };
        if values.is_empty() {
            return Err(format!("{key:?} must list at least one value"));
        }
        if values.len() > MAX_VALUES {
            return Err(format!(
                "{key:?} must list at most {MAX_VALUES} values, got {}",
                values.len()
            ));
        }
        for value in values {
            let Value::String(text) = value else {
                return Err(format!(
                    "{key:?} must list only strings, got {}",
                    kind(value)
                ));
            };
            let chars = text.chars().count();
            if chars > MAX_VALUE_CHARS {
                return Err(format!(
                    "{key:?} lists a value of {chars} characters; at most {MAX_VALUE_CHARS}"
                ));
            }
        }
    }
    Ok(Some(filters.clone()))
}

/// Parses a filter given as JSON text and normalises it like [`normalize`].
pub fn normalize_text(filters: Option<&str>) -> Result<Option<Value>, FilterError> {
    let Some(text) = filters else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(text).map_err(|error| match error.classify() {
        // Nesting beyond serde_json's recursion limit or a number beyond f64: well-formed
        // JSON that no filter can be, worded without serde's line and column.
        serde_json::error::Category::Syntax | serde_json::error::Category::Data => {
            let message = error.to_string();
            let reason = message.split(" at line ").next().unwrap_or(&message);
            format!("must be a JSON object mapping attribute names to arrays of strings ({reason})")
        }
        _ => format!("is not valid JSON: {error}"),
    })?;
    normalize(Some(&value))
}

/// An attribute name as quoted in an error: at most 64 characters.
fn shorten(key: &str) -> String {
    key.chars().take(64).collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Returns `filters` (JSON text) normalised (NULL for none) or raises 22023 saying what is wrong.
#[pg_extern(immutable, parallel_safe)]
pub fn normalize_message_filters(filters: Option<&str>) -> Option<JsonB> {
    match normalize_text(filters) {
        Ok(normalized) => normalized.map(JsonB),
        Err(problem) => {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("invalid message_filters: {problem}")
            );
        }
    }
}

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.normalize_message_filters(text) IS \
     'Internal: validates a subscription filter given as JSON text (an object of at most 100 names, each \
     listing 1 to 100 strings) and returns it as jsonb, NULL for none; raises 22023 naming what is wrong.';",
    name = "filter_comment",
    requires = [normalize_message_filters]
);

#[cfg(test)]
mod unit {
    use super::{normalize, normalize_text};
    use serde_json::json;

    #[test]
    fn text_that_serde_cannot_hold_is_a_worded_error() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = normalize_text(Some(&deep)).expect_err("too deep");
        assert!(err.contains("recursion limit"), "{err}");
        let huge = r#"{"n": [1e400]}"#;
        let err = normalize_text(Some(huge)).expect_err("out of range");
        assert!(err.contains("out of range"), "{err}");
        let many: serde_json::Map<String, serde_json::Value> =
            (0..101).map(|i| (format!("k{i}"), json!(["v"]))).collect();
        let err =
            normalize_text(Some(&serde_json::Value::Object(many).to_string())).expect_err("keys");
        assert!(err.contains("at most 100 attributes"), "{err}");
        assert_eq!(normalize_text(None), Ok(None));
        assert_eq!(normalize_text(Some("{}")), Ok(None));
    }

    #[test]
    fn accepts_the_documented_form() {
        let f = json!({"status": ["processed"], "region": ["eu", "us"]});
        assert_eq!(normalize(Some(&f)), Ok(Some(f.clone())));
        assert_eq!(normalize(None), Ok(None));
        assert_eq!(normalize(Some(&json!({}))), Ok(None));
    }

    #[test]
    fn rejects_other_shapes() {
        let cases = [
            (json!([]), "got an array"),
            (json!("status"), "got a string"),
            (
                json!({"status": "processed"}),
                "\"status\" must map to an array of strings, got a string",
            ),
            (json!({"status": []}), "at least one value"),
            (json!({"status": ["ok", 1]}), "only strings, got a number"),
            (json!({"status": [null]}), "got null"),
            (json!({"": ["x"]}), "non-empty"),
            (json!({"s": {"x": ["y"]}}), "got an object"),
            (json!({"s": vec!["v"; 101]}), "at most 100 values"),
            (json!({"s": ["x".repeat(1025)]}), "at most 1024"),
            (json!({"k".repeat(257): ["v"]}), "at most 256 characters"),
        ];
        for (filters, needle) in cases {
            let err = normalize(Some(&filters)).expect_err("invalid");
            assert!(err.contains(needle), "{filters}: {err}");
        }
    }
}
