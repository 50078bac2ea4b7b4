//! Subscription filters: the validator and the evaluator, side by side, both over one parsed
//! form ([`Filter`]) so that every filter the validator accepts is one the evaluator knows.
//!
//! They are Rust rather than SQL because the filters coming next (SNS filter policies: prefix,
//! suffix, anything-but, exists, numeric ranges compared as numbers from string attributes)
//! are typed conditions: a Rust enum parses, words errors for and evaluates them in one place,
//! and numbers parse without SQL's cast errors. `psqlqueue.filter_matches` (sql/pubsub.sql)
//! stays the SQL entry point publish calls; it skips unfiltered subscriptions itself and hands
//! the rest here.
//!
//! The accepted form maps an attribute name to a non-empty array of strings:
//! `{"status": ["processed", "shipped"], "region": ["eu"]}`. A message matches when every key
//! is among its attributes with one of the listed values. Limits, as for message attributes:
//! at most 100 names of 1 to 256 characters, at most 100 values per name, values at most 1,024
//! characters.
//!
//! Both SQL functions take JSON as text (callers pass `jsonb::text`) and parse it here, so that
//! every parse failure is an error we word: converting a jsonb argument happens before our code
//! runs and fails on input such as nesting deeper than serde_json's limit or numbers beyond
//! f64, which would surface as an internal error (XX000).

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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

/// A valid filter: every key must hold (AND), each through any of its conditions (OR).
#[derive(Debug, PartialEq)]
pub struct Filter {
    keys: Vec<(String, Vec<Condition>)>,
}

/// One way an attribute's value may satisfy its key.
#[derive(Debug, PartialEq)]
enum Condition {
    /// The value is exactly this string.
    Equals(String),
}

impl Condition {
    /// Whether the attribute's value (None when the message lacks it) satisfies the condition.
    fn holds(&self, value: Option<&str>) -> bool {
        match self {
            Condition::Equals(expected) => value == Some(expected.as_str()),
        }
    }
}

impl Filter {
    /// Whether a message with these attributes passes the filter.
    pub fn matches(&self, attributes: &Map<String, Value>) -> bool {
        self.keys.iter().all(|(key, conditions)| {
            let value = attributes.get(key).and_then(attribute_text);
            conditions
                .iter()
                .any(|condition| condition.holds(value.as_deref()))
        })
    }
}

/// An attribute's value as text, as SQL's `->>` gives it: strings unquoted, other values as
/// JSON, JSON null as none.
fn attribute_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(Cow::Borrowed(text)),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// Checks a filter's shape and parses it: `None` for no filter (SQL NULL or `{}`).
pub fn parse(filters: Option<&Value>) -> Result<Option<Filter>, FilterError> {
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
    let mut keys = Vec::with_capacity(map.len());
    for (key, allowed) in map {
        keys.push((key.clone(), parse_key(key, allowed)?));
    }
    Ok(Some(Filter { keys }))
}

/// Parses one key's list of conditions.
fn parse_key(key: &str, allowed: &Value) -> Result<Vec<Condition>, FilterError> {
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
    values
        .iter()
        .map(|value| {
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
            Ok(Condition::Equals(text.clone()))
        })
        .collect()
}

/// Checks a filter's shape and returns it as given (`None` for no filter): what a subscription
/// stores.
pub fn normalize(filters: Option<&Value>) -> Result<Option<Value>, FilterError> {
    Ok(parse(filters)?.and(filters.cloned()))
}

/// Parses JSON text, wording what serde cannot hold without its line and column.
fn parse_json(text: &str) -> Result<Value, FilterError> {
    serde_json::from_str(text).map_err(|error| match error.classify() {
        // Nesting beyond serde_json's recursion limit or a number beyond f64: well-formed
        // JSON that no filter can be.
        serde_json::error::Category::Syntax | serde_json::error::Category::Data => {
            let message = error.to_string();
            let reason = message.split(" at line ").next().unwrap_or(&message);
            format!("must be a JSON object mapping attribute names to arrays of strings ({reason})")
        }
        _ => format!("is not valid JSON: {error}"),
    })
}

/// Parses a filter given as JSON text and normalises it like [`normalize`].
pub fn normalize_text(filters: Option<&str>) -> Result<Option<Value>, FilterError> {
    let Some(text) = filters else {
        return Ok(None);
    };
    normalize(Some(&parse_json(text)?))
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

/// Whether a message with `attributes` (a JSON object as text; NULL for none) passes `filters`
/// (a subscription filter as text; NULL passes everything). Raises 22023 when either is not
/// what its name says.
#[pg_extern(immutable, parallel_safe)]
pub fn match_message_filters(filters: Option<&str>, attributes: Option<&str>) -> bool {
    match evaluate(filters, attributes) {
        Ok(passes) => passes,
        Err(problem) => {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                problem
            );
        }
    }
}

/// [`match_message_filters`] without the error report.
fn evaluate(filters: Option<&str>, attributes: Option<&str>) -> Result<bool, FilterError> {
    let Some(filters) = filters else {
        return Ok(true);
    };
    PARSED.with(|cache| {
        let mut cache = cache.borrow_mut();
        let Some(filter) = cache.filter(filters)? else {
            return Ok(true);
        };
        let attributes = cache.attributes(attributes)?;
        Ok(filter.matches(&attributes))
    })
}

/// Most parsed filters kept per backend; the cache starts over when it is full.
const CACHED_FILTERS: usize = 1024;

thread_local! {
    // publish evaluates every subscription's filter against one message's attributes, and the
    // same subscriptions again for the next message: parsing each text once per backend (not
    // once per row) is what keeps the evaluator as fast as the SQL one it replaced.
    static PARSED: RefCell<Parsed> = RefCell::new(Parsed::default());
}

/// Filters and the latest attributes, parsed, keyed by their JSON text.
#[derive(Default)]
struct Parsed {
    filters: HashMap<String, Option<Rc<Filter>>>,
    attributes: Option<(String, Rc<Map<String, Value>>)>,
}

impl Parsed {
    /// The parsed filter for `text` (`None`: it filters nothing), from the cache when there.
    fn filter(&mut self, text: &str) -> Result<Option<Rc<Filter>>, FilterError> {
        if let Some(filter) = self.filters.get(text) {
            return Ok(filter.clone());
        }
        let filter = parse_json(text)
            .and_then(|value| parse(Some(&value)))
            .map_err(|problem| format!("invalid message_filters: {problem}"))?
            .map(Rc::new);
        if self.filters.len() >= CACHED_FILTERS {
            self.filters.clear();
        }
        self.filters.insert(text.to_owned(), filter.clone());
        Ok(filter)
    }

    /// The parsed attributes for `text` (none: an empty object); the latest are kept.
    fn attributes(&mut self, text: Option<&str>) -> Result<Rc<Map<String, Value>>, FilterError> {
        let Some(text) = text else {
            return Ok(Rc::new(Map::new()));
        };
        if let Some((cached, map)) = &self.attributes
            && cached == text
        {
            return Ok(map.clone());
        }
        let map = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Rc::new(map),
            Ok(other) => {
                return Err(format!(
                    "invalid attributes: must be a JSON object, got {}",
                    kind(&other)
                ));
            }
            Err(error) => return Err(format!("invalid attributes: {error}")),
        };
        self.attributes = Some((text.to_owned(), map.clone()));
        Ok(map)
    }
}

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.match_message_filters(text, text) IS \
     'Internal: the subscription filter evaluator behind psqlqueue.filter_matches, over JSON text; raises 22023 \
     when the filter or the attributes are malformed.';",
    name = "match_comment",
    requires = [match_message_filters]
);

extension_sql!(
    "COMMENT ON FUNCTION psqlqueue.normalize_message_filters(text) IS \
     'Internal: validates a subscription filter given as JSON text (an object of at most 100 names, each \
     listing 1 to 100 strings) and returns it as jsonb, NULL for none; raises 22023 naming what is wrong.';",
    name = "filter_comment",
    requires = [normalize_message_filters]
);

#[cfg(test)]
mod unit {
    use super::{evaluate, normalize, normalize_text};
    use serde_json::json;

    #[test]
    fn evaluates_as_the_sql_evaluator_did() {
        let filter = r#"{"status": ["processed", "shipped"], "region": ["eu"]}"#;
        let cases = [
            (r#"{"status": "shipped", "region": "eu"}"#, true),
            (
                r#"{"status": "shipped", "region": "eu", "extra": "x"}"#,
                true,
            ),
            (r#"{"status": "new", "region": "eu"}"#, false),
            (r#"{"status": "shipped"}"#, false),
            (r#"{"status": null, "region": "eu"}"#, false),
            ("{}", false),
        ];
        for (attributes, expected) in cases {
            assert_eq!(
                evaluate(Some(filter), Some(attributes)),
                Ok(expected),
                "{attributes}"
            );
        }
        assert_eq!(evaluate(Some(filter), None), Ok(false));
        assert_eq!(evaluate(None, Some("{}")), Ok(true));
        assert_eq!(evaluate(Some("{}"), None), Ok(true));
        // Non-string values compare by their JSON text, as `->>` gives them.
        assert_eq!(
            evaluate(Some(r#"{"n": ["5"]}"#), Some(r#"{"n": 5}"#)),
            Ok(true)
        );
    }

    #[test]
    fn malformed_input_is_a_worded_error() {
        let err = evaluate(Some(r#"{"s": "x"}"#), Some("{}")).expect_err("bad filter");
        assert!(err.starts_with("invalid message_filters: "), "{err}");
        let err = evaluate(Some(r#"{"s": ["x"]}"#), Some("[]")).expect_err("bad attributes");
        assert!(err.contains("must be a JSON object, got an array"), "{err}");
        let err = evaluate(Some(r#"{"s": ["x"]}"#), Some("{")).expect_err("bad json");
        assert!(err.starts_with("invalid attributes: "), "{err}");
    }

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
