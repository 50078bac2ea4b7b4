//! Subscription filters: the validator. Matching lives in one SQL function,
//! `psqlqueue.filter_matches` (sql/pubsub.sql), so publish evaluates filters inside its single
//! INSERT ... SELECT; both halves change together when operators are added.
//!
//! The accepted form maps an attribute name to a non-empty array of strings:
//! `{"status": ["processed", "shipped"], "region": ["eu"]}`. A message matches when every key
//! is among its attributes with one of the listed values.

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::Value;

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
    for (key, allowed) in map {
        if key.is_empty() {
            return Err("attribute names must be non-empty".to_owned());
        }
        let Value::Array(values) = allowed else {
            return Err(format!(
                "{key:?} must map to an array of strings, got {}",
                kind(allowed)
            ));
        };
        if values.is_empty() {
            return Err(format!("{key:?} must list at least one value"));
        }
        if let Some(bad) = values.iter().find(|v| !v.is_string()) {
            return Err(format!("{key:?} must list only strings, got {}", kind(bad)));
        }
    }
    Ok(Some(filters.clone()))
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

/// Returns `filters` normalised (NULL for none) or raises 22023 saying what is wrong.
#[pg_extern(immutable, parallel_safe)]
pub fn normalize_message_filters(filters: Option<JsonB>) -> Option<JsonB> {
    match normalize(filters.as_ref().map(|f| &f.0)) {
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
    "COMMENT ON FUNCTION psqlqueue.normalize_message_filters(jsonb) IS \
     'Internal: validates a subscription filter (an object of non-empty string arrays) and returns it, \
     NULL for none; raises 22023 naming what is wrong.';",
    name = "filter_comment",
    requires = [normalize_message_filters]
);

#[cfg(test)]
mod unit {
    use super::normalize;
    use serde_json::json;

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
        ];
        for (filters, needle) in cases {
            let err = normalize(Some(&filters)).expect_err("invalid");
            assert!(err.contains(needle), "{filters}: {err}");
        }
    }
}
