//! Subscription filters: the validator and the evaluator, side by side, both over one parsed
//! form ([`Filter`]) so that every filter the validator accepts is one the evaluator knows.
//!
//! They are Rust rather than SQL because the filters are SNS filter policies: typed conditions
//! (prefix, suffix, anything-but, exists, numeric ranges compared as numbers from string
//! attributes) that a Rust enum parses, words errors for and evaluates in one place, and numbers
//! parse without SQL's cast errors. `psqlqueue.filter_matches` (sql/pubsub.sql) stays the SQL
//! entry point publish calls; it skips unfiltered subscriptions itself and hands the rest here.
//!
//! The accepted form maps an attribute name to a non-empty array of conditions:
//! `{"status": ["processed", "shipped"], "region": ["eu"], "price": [{"numeric": [">=", 10]}]}`.
//! A message matches when every key holds (AND), each through any of its conditions (OR). A
//! condition is
//! - a string: the attribute is present with exactly that value;
//! - `{"prefix": "ord-"}` / `{"suffix": ".png"}` (a non-empty string): present, and its value
//!   starts / ends with it;
//! - `{"anything-but": ["a", "b"]}` (a non-empty array of strings, or one string): present, and
//!   its value is none of them; an absent attribute does not match (as in SNS);
//! - `{"exists": true}`: present, whatever its value; `{"exists": false}`: absent;
//! - `{"numeric": [">=", 10, "<", 20]}` or `{"numeric": ["=", 5]}`: one comparison (`=`, `<`,
//!   `<=`, `>`, `>=`), or a lower bound (`>`, `>=`) then an upper bound (`<`, `<=`) with the lower
//!   number below the upper one; the value, read as a decimal number (optional sign, fraction
//!   and exponent; no spaces, no `inf` or `NaN`) and compared in double precision, satisfies
//!   them. A value that does not read as a finite number never matches.
//!
//! A condition object has exactly one key. An attribute that is JSON null counts as absent
//! (publish only accepts string attributes). Limits, as for message attributes: at most 100
//! names of 1 to 256 characters, at most 100 conditions per name, strings (exact values,
//! prefixes, suffixes, anything-but values) at most 1,024 characters, at most 100 strings in one
//! anything-but. A subscription stores the filter as given: validation never rewrites it.
//!
//! Both SQL functions take JSON as text (callers pass `jsonb::text`) and parse it here, so that
//! every parse failure is an error we word: converting a jsonb argument happens before our code
//! runs and fails on input such as nesting deeper than serde_json's limit or numbers beyond
//! f64, which would surface as an internal error (XX000).

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Most attribute names one filter may test.
const MAX_KEYS: usize = 100;
/// Most conditions one name may list, and most strings one anything-but may list.
const MAX_VALUES: usize = 100;
/// Longest attribute name, in characters.
const MAX_NAME_CHARS: usize = 256;
/// Longest string in a condition, in characters.
const MAX_VALUE_CHARS: usize = 1024;
/// The comparison operators of a numeric condition, as error messages list them.
const OPERATORS: &str = "=, <, <=, >, >=";

/// What is wrong with a filter, in words for the user.
pub type FilterError = String;

/// A valid filter: every key must hold (AND), each through any of its conditions (OR).
#[derive(Debug, PartialEq)]
pub struct Filter(Form);

/// How a [`Filter`] keeps its keys. Filters of exact strings only (the common case) keep a form
/// of their own, evaluated by the plain string-comparison loop they had before typed conditions
/// existed: the general loop over [`Condition`]s was some 15% slower on them, measured alone.
#[derive(Debug, PartialEq)]
enum Form {
    /// Every condition is an exact string.
    Exact(Vec<(String, Vec<String>)>),
    /// At least one condition is typed.
    Typed(Vec<(String, Vec<Condition>)>),
}

/// One way an attribute's value may satisfy its key.
#[derive(Debug, PartialEq)]
enum Condition {
    /// The value is exactly this string.
    Equals(String),
    /// The value starts with this (non-empty) string.
    Prefix(String),
    /// The value ends with this (non-empty) string.
    Suffix(String),
    /// The attribute is present and its value is none of these.
    AnythingBut(Vec<String>),
    /// The attribute is present (true) or absent (false).
    Exists(bool),
    /// The value reads as a number within the range.
    Numeric(Range),
}

/// The numbers a numeric condition accepts: each bound, when there is one, holds.
#[derive(Debug, PartialEq, Clone, Copy)]
struct Range {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

/// One end of a [`Range`].
#[derive(Debug, PartialEq, Clone, Copy)]
struct Bound {
    value: f64,
    inclusive: bool,
}

impl Range {
    fn contains(self, number: f64) -> bool {
        self.lower.is_none_or(|b| {
            if b.inclusive {
                number >= b.value
            } else {
                number > b.value
            }
        }) && self.upper.is_none_or(|b| {
            if b.inclusive {
                number <= b.value
            } else {
                number < b.value
            }
        })
    }
}

impl Condition {
    /// Whether the attribute's value (None when the message lacks it) satisfies the condition;
    /// `number` is the value read as a number, computed on first need and shared by the key's
    /// conditions.
    fn holds(&self, value: Option<&str>, number: &OnceCell<Option<f64>>) -> bool {
        match self {
            Condition::Equals(expected) => value == Some(expected.as_str()),
            Condition::Prefix(prefix) => value.is_some_and(|v| v.starts_with(prefix.as_str())),
            Condition::Suffix(suffix) => value.is_some_and(|v| v.ends_with(suffix.as_str())),
            Condition::AnythingBut(excluded) => {
                value.is_some_and(|v| !excluded.iter().any(|e| e == v))
            }
            Condition::Exists(present) => value.is_some() == *present,
            Condition::Numeric(range) => number
                .get_or_init(|| value.and_then(parse_number))
                .is_some_and(|n| range.contains(n)),
        }
    }
}

impl Filter {
    /// Whether a message with these attributes passes the filter.
    pub fn matches(&self, attributes: &Map<String, Value>) -> bool {
        match &self.0 {
            Form::Exact(keys) => keys.iter().all(|(key, values)| {
                let value = attributes.get(key).and_then(attribute_text);
                values
                    .iter()
                    .any(|expected| value.as_deref() == Some(expected.as_str()))
            }),
            Form::Typed(keys) => keys.iter().all(|(key, conditions)| {
                let value = attributes.get(key).and_then(attribute_text);
                let number = OnceCell::new();
                conditions
                    .iter()
                    .any(|condition| condition.holds(value.as_deref(), &number))
            }),
        }
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

/// `text` as a finite number when it is one in decimal notation: an optional sign, digits with
/// an optional fraction (`5`, `5.`, `.5`, `5.25`), an optional exponent (`e-3`), nothing else.
/// Rust's own float syntax would also take `inf` and `NaN`, which are not numbers to compare.
fn parse_number(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let digits_from = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at
    };
    let mut at = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let integer_end = digits_from(at);
    let mut digits = integer_end - at;
    at = integer_end;
    if bytes.get(at) == Some(&b'.') {
        let fraction_end = digits_from(at + 1);
        digits += fraction_end - (at + 1);
        at = fraction_end;
    }
    if digits == 0 {
        return None;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exponent_end = digits_from(at);
        if exponent_end == at {
            return None;
        }
        at = exponent_end;
    }
    if at != bytes.len() {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Checks a filter's shape and parses it: `None` for no filter (SQL NULL or `{}`).
pub fn parse(filters: Option<&Value>) -> Result<Option<Filter>, FilterError> {
    let Some(filters) = filters else {
        return Ok(None);
    };
    let Value::Object(map) = filters else {
        return Err(format!(
            "must be a JSON object mapping attribute names to arrays of conditions, got {}",
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
    for (key, conditions) in map {
        keys.push((key.clone(), parse_key(key, conditions)?));
    }
    let exact = keys.iter().all(|(_, conditions)| {
        conditions
            .iter()
            .all(|condition| matches!(condition, Condition::Equals(_)))
    });
    if !exact {
        return Ok(Some(Filter(Form::Typed(keys))));
    }
    let keys = keys
        .into_iter()
        .map(|(key, conditions)| {
            let values = conditions
                .into_iter()
                .filter_map(|condition| match condition {
                    Condition::Equals(value) => Some(value),
                    _ => None,
                })
                .collect();
            (key, values)
        })
        .collect();
    Ok(Some(Filter(Form::Exact(keys))))
}

/// Parses one key's list of conditions.
fn parse_key(key: &str, conditions: &Value) -> Result<Vec<Condition>, FilterError> {
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
    let Value::Array(conditions) = conditions else {
        return Err(format!(
            "{key:?}: must map to an array of conditions, got {}",
            kind(conditions)
        ));
    };
    if conditions.is_empty() {
        return Err(format!("{key:?}: must list at least one condition"));
    }
    if conditions.len() > MAX_VALUES {
        return Err(format!(
            "{key:?}: must list at most {MAX_VALUES} conditions, got {}",
            conditions.len()
        ));
    }
    conditions
        .iter()
        .map(|condition| parse_condition(&key, condition))
        .collect()
}

/// Parses one condition of the key `key` (already shortened for messages).
fn parse_condition(key: &str, condition: &Value) -> Result<Condition, FilterError> {
    let object = match condition {
        Value::String(text) => {
            check_length(key, "values", text)?;
            return Ok(Condition::Equals(text.clone()));
        }
        Value::Object(object) => object,
        other => {
            return Err(format!(
                "{key:?}: a condition must be a string or an object such as {{\"prefix\": \"ord-\"}}, got {}",
                kind(other)
            ));
        }
    };
    let mut entries = object.iter();
    let (Some((name, operand)), None) = (entries.next(), entries.next()) else {
        return Err(format!(
            "{key:?}: a condition object must have exactly one key, got {}",
            object.len()
        ));
    };
    match name.as_str() {
        "prefix" => Ok(Condition::Prefix(affix(key, "prefix", operand)?)),
        "suffix" => Ok(Condition::Suffix(affix(key, "suffix", operand)?)),
        "anything-but" => anything_but(key, operand).map(Condition::AnythingBut),
        "exists" => match operand {
            Value::Bool(present) => Ok(Condition::Exists(*present)),
            other => Err(format!(
                "{key:?}: exists must be true or false, got {}",
                describe(other)
            )),
        },
        "numeric" => numeric(key, operand).map(Condition::Numeric),
        other => Err(format!(
            "{key:?}: unknown condition {:?}; a condition object is one of prefix, suffix, \
             anything-but, exists, numeric",
            shorten(other)
        )),
    }
}

/// A prefix or suffix: a non-empty string of at most [`MAX_VALUE_CHARS`] characters.
fn affix(key: &str, name: &str, operand: &Value) -> Result<String, FilterError> {
    match operand {
        Value::String(text) if !text.is_empty() => {
            check_length(key, name, text)?;
            Ok(text.clone())
        }
        other => Err(format!(
            "{key:?}: {name} must be a non-empty string, got {}",
            describe(other)
        )),
    }
}

/// The strings an anything-but excludes: one string, or a non-empty array of them.
fn anything_but(key: &str, operand: &Value) -> Result<Vec<String>, FilterError> {
    const NAME: &str = "anything-but";
    match operand {
        Value::String(text) => {
            check_length(key, NAME, text)?;
            Ok(vec![text.clone()])
        }
        Value::Array(items) if items.is_empty() => {
            Err(format!("{key:?}: {NAME} must list at least one string"))
        }
        Value::Array(items) if items.len() > MAX_VALUES => Err(format!(
            "{key:?}: {NAME} must list at most {MAX_VALUES} strings, got {}",
            items.len()
        )),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => {
                    check_length(key, NAME, text)?;
                    Ok(text.clone())
                }
                other => Err(format!(
                    "{key:?}: {NAME} must list only strings, got {}",
                    kind(other)
                )),
            })
            .collect(),
        other => Err(format!(
            "{key:?}: {NAME} must be a string or a non-empty array of strings, got {}",
            describe(other)
        )),
    }
}

/// A numeric condition's comparisons: `[op, n]`, or `[lower op, n, upper op, n]`.
fn numeric(key: &str, operand: &Value) -> Result<Range, FilterError> {
    let Value::Array(items) = operand else {
        return Err(format!(
            "{key:?}: numeric must be an array such as [\">=\", 10, \"<\", 20], got {}",
            describe(operand)
        ));
    };
    match items.as_slice() {
        [operator, number] => {
            let (operator, value) = comparison(key, operator, number)?;
            let bound = |inclusive| Some(Bound { value, inclusive });
            Ok(match operator {
                "=" => Range {
                    lower: bound(true),
                    upper: bound(true),
                },
                ">" | ">=" => Range {
                    lower: bound(operator == ">="),
                    upper: None,
                },
                _ => Range {
                    lower: None,
                    upper: bound(operator == "<="),
                },
            })
        }
        [lower_operator, lower, upper_operator, upper] => {
            let (lower_operator, lower) = comparison(key, lower_operator, lower)?;
            let (upper_operator, upper) = comparison(key, upper_operator, upper)?;
            if !matches!(lower_operator, ">" | ">=") || !matches!(upper_operator, "<" | "<=") {
                return Err(format!(
                    "{key:?}: numeric with two comparisons needs a lower bound (> or >=) then an \
                     upper bound (< or <=), got {lower_operator:?} then {upper_operator:?}"
                ));
            }
            if lower >= upper {
                return Err(format!(
                    "{key:?}: numeric's lower bound ({lower}) must be below its upper bound ({upper})"
                ));
            }
            Ok(Range {
                lower: Some(Bound {
                    value: lower,
                    inclusive: lower_operator == ">=",
                }),
                upper: Some(Bound {
                    value: upper,
                    inclusive: upper_operator == "<=",
                }),
            })
        }
        _ => Err(format!(
            "{key:?}: numeric needs an operator and a number, or a lower bound then an upper \
             bound ([\">=\", 10, \"<\", 20]), got {} elements",
            items.len()
        )),
    }
}

/// One comparison of a numeric condition: a known operator and a finite number.
fn comparison<'a>(
    key: &str,
    operator: &'a Value,
    number: &Value,
) -> Result<(&'a str, f64), FilterError> {
    let operator = match operator {
        Value::String(op) if matches!(op.as_str(), "=" | "<" | "<=" | ">" | ">=") => op.as_str(),
        other => {
            return Err(format!(
                "{key:?}: numeric needs an operator ({OPERATORS}) and a number, got {} as the \
                 operator",
                describe(other)
            ));
        }
    };
    // serde_json refuses numbers beyond f64 when it parses; the check keeps that a promise.
    match number.as_f64() {
        Some(value) if value.is_finite() => Ok((operator, value)),
        _ => Err(format!(
            "{key:?}: numeric needs an operator and a number, got {} after {operator:?}",
            describe(number)
        )),
    }
}

/// Errs when `text`, a string of the condition `what`, is longer than [`MAX_VALUE_CHARS`].
fn check_length(key: &str, what: &str, text: &str) -> Result<(), FilterError> {
    // Fewer bytes than the limit is fewer characters too: most strings skip the count.
    if text.len() <= MAX_VALUE_CHARS {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars > MAX_VALUE_CHARS {
        return Err(format!(
            "{key:?}: {what} must be at most {MAX_VALUE_CHARS} characters, got one of {chars}"
        ));
    }
    Ok(())
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
            format!(
                "must be a JSON object mapping attribute names to arrays of conditions ({reason})"
            )
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

/// A value as quoted in an error: strings (shortened) and scalars as written, containers by kind.
fn describe(value: &Value) -> String {
    match value {
        Value::String(text) if text.is_empty() => "an empty string".to_owned(),
        Value::String(text) => format!("{:?}", shorten(text)),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => kind(other).to_owned(),
    }
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
     listing 1 to 100 conditions: strings or one-key objects prefix, suffix, anything-but, exists, numeric) \
     and returns it as jsonb, NULL for none; raises 22023 naming what is wrong.';",
    name = "filter_comment",
    requires = [normalize_message_filters]
);

#[cfg(test)]
mod unit {
    use super::{
        Condition, Filter, Form, evaluate, normalize, normalize_text, parse, parse_number,
    };
    use serde_json::{Value, json};

    /// Whether a message with `attributes` passes `filter` (both JSON values).
    fn passes(filter: &Value, attributes: &Value) -> bool {
        evaluate(Some(&filter.to_string()), Some(&attributes.to_string()))
            .unwrap_or_else(|e| panic!("{filter} over {attributes}: {e}"))
    }

    /// Asserts, for each `(attributes, expected)`, whether `filter` passes them.
    #[track_caller]
    fn assert_passes(filter: &Value, cases: &[(Value, bool)]) {
        for (attributes, expected) in cases {
            assert_eq!(
                passes(filter, attributes),
                *expected,
                "{filter} over {attributes}"
            );
        }
    }

    /// The message normalising `filter` fails with (panics when it is valid).
    fn problem(filter: &Value) -> String {
        match normalize(Some(filter)) {
            Ok(_) => panic!("{filter} was accepted"),
            Err(problem) => problem,
        }
    }

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
        let err = evaluate(Some(r#"{"s": [{"numeric": [">", "1"]}]}"#), Some("{}"))
            .expect_err("bad condition");
        assert!(
            err.starts_with(r#"invalid message_filters: "s": numeric needs"#),
            "{err}"
        );
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
        let huge = r#"{"n": [{"numeric": [">", 1e400]}]}"#;
        let err = normalize_text(Some(huge)).expect_err("numeric out of range");
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
    fn typed_conditions_are_returned_as_given() {
        let f = json!({
            "status": ["processed", {"prefix": "ship"}],
            "file": [{"suffix": ".png"}],
            "region": [{"anything-but": "eu"}],
            "tier": [{"anything-but": ["free", "trial"]}],
            "trace": [{"exists": true}],
            "debug": [{"exists": false}],
            "price": [{"numeric": [">=", 10, "<", 20.5]}, {"numeric": ["=", -1e3]}]
        });
        assert_eq!(normalize(Some(&f)), Ok(Some(f.clone())));
        // As the SQL function receives it: jsonb's text.
        assert_eq!(normalize_text(Some(&f.to_string())), Ok(Some(f.clone())));
    }

    #[test]
    fn rejects_other_shapes() {
        let cases = [
            (json!([]), "got an array"),
            (json!("status"), "got a string"),
            (
                json!({"status": "processed"}),
                "\"status\": must map to an array of conditions, got a string",
            ),
            (
                json!({"status": []}),
                "\"status\": must list at least one condition",
            ),
            (
                json!({"status": ["ok", 1]}),
                "\"status\": a condition must be a string or an object such as {\"prefix\": \"ord-\"}, got a number",
            ),
            (json!({"status": [null]}), "got null"),
            (json!({"status": [true]}), "got a boolean"),
            (json!({"status": [["x"]]}), "got an array"),
            (json!({"": ["x"]}), "non-empty"),
            (json!({"s": {"x": ["y"]}}), "got an object"),
            (
                json!({"s": vec!["v"; 101]}),
                "\"s\": must list at most 100 conditions, got 101",
            ),
            (
                json!({"s": ["x".repeat(1025)]}),
                "\"s\": values must be at most 1024 characters, got one of 1025",
            ),
            (json!({"k".repeat(257): ["v"]}), "at most 256 characters"),
        ];
        for (filters, needle) in cases {
            let err = problem(&filters);
            assert!(err.contains(needle), "{filters}: {err}");
        }
        // Characters, not bytes: 1,024 two-byte characters are fine.
        let f = json!({"s": ["é".repeat(1024)], "p": [{"prefix": "é".repeat(1024)}]});
        assert_eq!(normalize(Some(&f)), Ok(Some(f.clone())));
    }

    #[test]
    fn rejects_malformed_conditions_naming_key_and_rule() {
        let cases = [
            // The object itself.
            (
                json!({"k": [{}]}),
                "\"k\": a condition object must have exactly one key, got 0",
            ),
            (
                json!({"k": [{"prefix": "a", "suffix": "b"}]}),
                "\"k\": a condition object must have exactly one key, got 2",
            ),
            (
                json!({"k": [{"contains": "a"}]}),
                "\"k\": unknown condition \"contains\"; a condition object is one of prefix, suffix, anything-but, exists, numeric",
            ),
            (
                json!({"k": [{"Prefix": "a"}]}),
                "unknown condition \"Prefix\"",
            ),
            // prefix and suffix.
            (
                json!({"k": [{"prefix": ""}]}),
                "\"k\": prefix must be a non-empty string, got an empty string",
            ),
            (
                json!({"k": [{"prefix": 1}]}),
                "\"k\": prefix must be a non-empty string, got 1",
            ),
            (
                json!({"k": [{"prefix": ["a"]}]}),
                "\"k\": prefix must be a non-empty string, got an array",
            ),
            (
                json!({"k": [{"prefix": "a".repeat(1025)}]}),
                "\"k\": prefix must be at most 1024 characters, got one of 1025",
            ),
            (
                json!({"k": [{"suffix": ""}]}),
                "\"k\": suffix must be a non-empty string, got an empty string",
            ),
            (
                json!({"k": [{"suffix": null}]}),
                "\"k\": suffix must be a non-empty string, got null",
            ),
            (
                json!({"k": [{"suffix": "a".repeat(1025)}]}),
                "\"k\": suffix must be at most 1024 characters, got one of 1025",
            ),
            // anything-but.
            (
                json!({"k": [{"anything-but": []}]}),
                "\"k\": anything-but must list at least one string",
            ),
            (
                json!({"k": [{"anything-but": ["a", 1]}]}),
                "\"k\": anything-but must list only strings, got a number",
            ),
            (
                json!({"k": [{"anything-but": 5}]}),
                "\"k\": anything-but must be a string or a non-empty array of strings, got 5",
            ),
            (
                json!({"k": [{"anything-but": {"prefix": "a"}}]}),
                "\"k\": anything-but must be a string or a non-empty array of strings, got an object",
            ),
            (
                json!({"k": [{"anything-but": vec!["v"; 101]}]}),
                "\"k\": anything-but must list at most 100 strings, got 101",
            ),
            (
                json!({"k": [{"anything-but": ["a".repeat(1025)]}]}),
                "\"k\": anything-but must be at most 1024 characters, got one of 1025",
            ),
            (
                json!({"k": [{"anything-but": "a".repeat(1025)}]}),
                "\"k\": anything-but must be at most 1024 characters, got one of 1025",
            ),
            // exists.
            (
                json!({"k": [{"exists": "true"}]}),
                "\"k\": exists must be true or false, got \"true\"",
            ),
            (
                json!({"k": [{"exists": 1}]}),
                "\"k\": exists must be true or false, got 1",
            ),
            (
                json!({"k": [{"exists": null}]}),
                "\"k\": exists must be true or false, got null",
            ),
            // numeric.
            (
                json!({"price": [{"numeric": ">= 10"}]}),
                "\"price\": numeric must be an array such as [\">=\", 10, \"<\", 20], got \">= 10\"",
            ),
            (
                json!({"price": [{"numeric": 10}]}),
                "\"price\": numeric must be an array such as [\">=\", 10, \"<\", 20], got 10",
            ),
            (
                json!({"price": [{"numeric": []}]}),
                "\"price\": numeric needs an operator and a number, or a lower bound then an upper bound ([\">=\", 10, \"<\", 20]), got 0 elements",
            ),
            (json!({"price": [{"numeric": [">="]}]}), "got 1 elements"),
            (
                json!({"price": [{"numeric": [">=", 1, "<"]}]}),
                "got 3 elements",
            ),
            (
                json!({"price": [{"numeric": [">", 1, "<", 5, "=", 3]}]}),
                "got 6 elements",
            ),
            (
                json!({"price": [{"numeric": ["=>", 10]}]}),
                "\"price\": numeric needs an operator (=, <, <=, >, >=) and a number, got \"=>\" as the operator",
            ),
            (
                json!({"price": [{"numeric": [10, ">"]}]}),
                "\"price\": numeric needs an operator (=, <, <=, >, >=) and a number, got 10 as the operator",
            ),
            (
                json!({"price": [{"numeric": ["!=", 10]}]}),
                "got \"!=\" as the operator",
            ),
            (
                json!({"price": [{"numeric": [">=", "10"]}]}),
                "\"price\": numeric needs an operator and a number, got \"10\" after \">=\"",
            ),
            (
                json!({"price": [{"numeric": ["=", null]}]}),
                "\"price\": numeric needs an operator and a number, got null after \"=\"",
            ),
            (
                json!({"price": [{"numeric": [">=", 0, "<", "9"]}]}),
                "\"price\": numeric needs an operator and a number, got \"9\" after \"<\"",
            ),
            (
                json!({"price": [{"numeric": ["<", 20, ">=", 10]}]}),
                "\"price\": numeric with two comparisons needs a lower bound (> or >=) then an upper bound (< or <=), got \"<\" then \">=\"",
            ),
            (
                json!({"price": [{"numeric": ["=", 5, "<", 10]}]}),
                "got \"=\" then \"<\"",
            ),
            (
                json!({"price": [{"numeric": [">", 5, ">", 10]}]}),
                "got \">\" then \">\"",
            ),
            (
                json!({"price": [{"numeric": [">=", 20, "<", 10]}]}),
                "\"price\": numeric's lower bound (20) must be below its upper bound (10)",
            ),
            (
                json!({"price": [{"numeric": [">=", 5, "<=", 5]}]}),
                "numeric's lower bound (5) must be below its upper bound (5)",
            ),
        ];
        for (filters, needle) in cases {
            let err = problem(&filters);
            assert!(
                err.contains(needle),
                "{filters}:\n  {err}\n  wanted {needle}"
            );
        }
        // A bad condition is found wherever it sits in the list, and names its own key.
        let err = problem(&json!({"a": ["x"], "b": ["y", {"exists": "no"}]}));
        assert_eq!(err, "\"b\": exists must be true or false, got \"no\"");
        // Long keys and strings are shortened in messages.
        let err = problem(&json!({"k".repeat(200): [{"prefix": 1}]}));
        assert!(err.starts_with(&format!("{:?}: ", "k".repeat(64))), "{err}");
        let err = problem(&json!({"k": [{"exists": "x".repeat(200)}]}));
        assert!(err.ends_with(&format!("got {:?}", "x".repeat(64))), "{err}");
    }

    #[test]
    fn prefix_and_suffix() {
        let prefix = json!({"order": [{"prefix": "ord-"}]});
        assert_passes(
            &prefix,
            &[
                (json!({"order": "ord-1"}), true),
                (json!({"order": "ord-"}), true),
                (json!({"order": "ORD-1"}), false),
                (json!({"order": "xord-1"}), false),
                (json!({"order": "ord"}), false),
                (json!({"order": ""}), false),
                (json!({"other": "ord-1"}), false),
                (json!({}), false),
            ],
        );
        let suffix = json!({"file": [{"suffix": ".png"}]});
        assert_passes(
            &suffix,
            &[
                (json!({"file": "a.png"}), true),
                (json!({"file": ".png"}), true),
                (json!({"file": "a.PNG"}), false),
                (json!({"file": "a.png.gz"}), false),
                (json!({}), false),
            ],
        );
        // Characters beyond ASCII are compared as the strings they are.
        let accented = json!({"city": [{"prefix": "Zü"}, {"suffix": "ß"}]});
        assert_passes(
            &accented,
            &[
                (json!({"city": "Zürich"}), true),
                (json!({"city": "Gieß"}), true),
                (json!({"city": "Zurich"}), false),
            ],
        );
    }

    #[test]
    fn anything_but() {
        let list = json!({"status": [{"anything-but": ["cancelled", "failed"]}]});
        assert_passes(
            &list,
            &[
                (json!({"status": "shipped"}), true),
                (json!({"status": ""}), true),
                (json!({"status": "cancelled"}), false),
                (json!({"status": "failed"}), false),
                (json!({"status": "Failed"}), true),
                // Absent (or null): no match, as in SNS.
                (json!({}), false),
                (json!({"other": "shipped"}), false),
                (json!({"status": null}), false),
            ],
        );
        let one = json!({"status": [{"anything-but": "cancelled"}]});
        assert_passes(
            &one,
            &[
                (json!({"status": "shipped"}), true),
                (json!({"status": "cancelled"}), false),
                (json!({}), false),
            ],
        );
        // "Anything but x, or absent" is anything-but OR exists false.
        let or_absent = json!({"status": [{"anything-but": "cancelled"}, {"exists": false}]});
        assert_passes(
            &or_absent,
            &[
                (json!({"status": "shipped"}), true),
                (json!({}), true),
                (json!({"status": "cancelled"}), false),
            ],
        );
    }

    #[test]
    fn exists() {
        let present = json!({"trace": [{"exists": true}]});
        assert_passes(
            &present,
            &[
                (json!({"trace": "abc"}), true),
                (json!({"trace": ""}), true),
                (json!({}), false),
                (json!({"trace": null}), false),
                (json!({"tracer": "x"}), false),
            ],
        );
        let absent = json!({"debug": [{"exists": false}]});
        assert_passes(
            &absent,
            &[
                (json!({}), true),
                (json!({"other": "x"}), true),
                (json!({"debug": null}), true),
                (json!({"debug": ""}), false),
                (json!({"debug": "1"}), false),
            ],
        );
        assert_eq!(
            evaluate(Some(&absent.to_string()), None),
            Ok(true),
            "no attributes at all"
        );
        assert_eq!(evaluate(Some(&present.to_string()), None), Ok(false));
    }

    #[test]
    fn numeric_comparisons() {
        let check = |numeric: Value, cases: &[(&str, bool)]| {
            let filter = json!({"n": [{"numeric": numeric}]});
            for (value, expected) in cases {
                assert_eq!(
                    passes(&filter, &json!({"n": value})),
                    *expected,
                    "{filter} over {value:?}"
                );
            }
        };
        check(
            json!(["=", 5]),
            &[
                ("5", true),
                ("5.0", true),
                ("+5", true),
                ("0.5e1", true),
                ("500e-2", true),
                ("5.000001", false),
                ("4", false),
                ("05", true),
                ("five", false),
            ],
        );
        check(
            json!(["<", 0]),
            &[("-0.001", true), ("0", false), ("-0", false), ("1", false)],
        );
        check(
            json!(["<=", 0]),
            &[("0", true), ("-0", true), ("0.0001", false)],
        );
        check(
            json!([">", 1.5]),
            &[("1.5", false), ("1.51", true), ("2", true)],
        );
        check(json!([">=", 1.5]), &[("1.5", true), ("1.49", false)]);
        check(
            json!([">=", 10, "<", 20]),
            &[
                ("9.999", false),
                ("10", true),
                ("15", true),
                ("19.999", true),
                ("20", false),
                ("1e1", true),
                ("2e1", false),
                // As numbers, not as strings: "9" sorts after "10" as text.
                ("9", false),
                ("100", false),
            ],
        );
        check(
            json!([">", 10, "<=", 20]),
            &[
                ("10", false),
                ("10.0000001", true),
                ("20", true),
                ("20.5", false),
            ],
        );
        check(
            json!([">", -1e3, "<", 1e3]),
            &[
                ("-999", true),
                ("-1000", false),
                ("999.999", true),
                ("1e3", false),
            ],
        );
    }

    #[test]
    fn numeric_values_that_do_not_parse_never_match() {
        // Even for the widest range: the value must be a finite decimal number.
        let any = json!({"n": [{"numeric": [">", -1e308, "<", 1e308]}]});
        for value in [
            "", " 5", "5 ", "1,5", "1_000", "0x10", "five", "inf", "-inf", "Infinity", "NaN",
            "nan", "1e", "1e+", "e5", ".", "+", "-", "--5", "+-5", "1.2.3", "5e3.1", "1e400",
            "-1e400", "½", "٣",
        ] {
            assert!(!passes(&any, &json!({"n": value})), "{value:?} matched");
        }
        for value in [
            "0", "-0", "5.", ".5", "-.5", "+.5e-3", "1E5", "1e+5", "1e307",
        ] {
            assert!(
                passes(&any, &json!({"n": value})),
                "{value:?} did not match"
            );
        }
        // Absent or null: no match.
        assert!(!passes(&any, &json!({})));
        assert!(!passes(&any, &json!({"n": null})));
        // A JSON number attribute (which publish refuses, but filter_matches may see) reads as
        // its JSON text, like every other condition.
        assert!(passes(&any, &json!({"n": 5})));
    }

    #[test]
    fn parse_number_reads_decimal_notation_only() {
        assert_eq!(parse_number("42"), Some(42.0));
        assert_eq!(parse_number("-2.5e2"), Some(-250.0));
        assert_eq!(parse_number("+.5"), Some(0.5));
        assert_eq!(parse_number("5."), Some(5.0));
        assert_eq!(
            parse_number(&format!("1{}", "0".repeat(400))),
            None,
            "beyond f64: not finite"
        );
        assert_eq!(parse_number("0.1e-400"), Some(0.0), "underflow is zero");
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn conditions_combine_or_within_a_key_and_across_keys() {
        // Mixed exact and typed conditions under one key: any of them (OR).
        let status = json!({"status": ["new", {"prefix": "ship"}, {"numeric": [">=", 400]}]});
        assert_passes(
            &status,
            &[
                (json!({"status": "new"}), true),
                (json!({"status": "shipped"}), true),
                (json!({"status": "shipping"}), true),
                (json!({"status": "404"}), true),
                (json!({"status": "200"}), false),
                (json!({"status": "newer"}), false),
                (json!({}), false),
            ],
        );
        // Every key must hold (AND).
        let both = json!({
            "status": [{"anything-but": ["cancelled"]}],
            "price": [{"numeric": [">", 0, "<=", 100]}],
            "file": [{"suffix": ".png"}, {"suffix": ".jpg"}],
            "trace": [{"exists": true}],
            "debug": [{"exists": false}],
            "region": ["eu", "us"]
        });
        let full = json!({
            "status": "paid", "price": "99.5", "file": "a.jpg", "trace": "t", "region": "eu"
        });
        assert!(passes(&both, &full));
        let Value::Object(full) = full else {
            unreachable!()
        };
        // Change any one attribute (null: remove it) so its key fails: the whole filter fails.
        for (key, value) in [
            ("status", json!("cancelled")),
            ("price", json!("100.01")),
            ("price", json!("free")),
            ("file", json!("a.gif")),
            ("trace", Value::Null),
            ("debug", json!("on")),
            ("region", json!("ap")),
        ] {
            let mut attributes = full.clone();
            if value.is_null() {
                attributes.remove(key);
            } else {
                attributes.insert(key.to_owned(), value.clone());
            }
            assert!(
                !passes(&both, &Value::Object(attributes)),
                "{key} = {value} should fail the filter"
            );
        }
        // Extra attributes are ignored.
        let mut extra = full.clone();
        extra.insert("x".to_owned(), json!("y"));
        assert!(passes(&both, &Value::Object(extra)));
        // exists true and false under one key: always true.
        let either = json!({"k": [{"exists": true}, {"exists": false}]});
        assert!(passes(&either, &json!({})));
        assert!(passes(&either, &json!({"k": "v"})));
        // Two numeric ranges under one key: a union.
        let union = json!({"n": [{"numeric": ["<", 0]}, {"numeric": [">", 100]}]});
        assert_passes(
            &union,
            &[
                (json!({"n": "-1"}), true),
                (json!({"n": "101"}), true),
                (json!({"n": "50"}), false),
                (json!({"n": "x"}), false),
            ],
        );
    }

    #[test]
    fn exact_only_filters_keep_their_own_form_and_both_forms_agree() {
        let parsed = |filter: Value| match parse(Some(&filter)) {
            Ok(Some(parsed)) => parsed,
            other => panic!("{filter}: {other:?}"),
        };
        let exact = parsed(json!({"a": ["x", "y"], "b": ["z"]}));
        assert_eq!(
            exact,
            Filter(Form::Exact(vec![
                ("a".to_owned(), vec!["x".to_owned(), "y".to_owned()]),
                ("b".to_owned(), vec!["z".to_owned()]),
            ]))
        );
        let typed = parsed(json!({"a": ["x"], "b": [{"exists": true}]}));
        assert!(matches!(typed.0, Form::Typed(_)), "{typed:?}");
        // The same exact filter in the general form answers as the exact form does.
        let general = Filter(Form::Typed(vec![
            (
                "a".to_owned(),
                vec![
                    Condition::Equals("x".to_owned()),
                    Condition::Equals("y".to_owned()),
                ],
            ),
            ("b".to_owned(), vec![Condition::Equals("z".to_owned())]),
        ]));
        for attributes in [
            json!({"a": "x", "b": "z"}),
            json!({"a": "y", "b": "z", "c": "w"}),
            json!({"a": "x"}),
            json!({"a": "w", "b": "z"}),
            json!({"a": null, "b": "z"}),
            json!({}),
        ] {
            let Value::Object(attributes) = attributes else {
                unreachable!()
            };
            assert_eq!(
                exact.matches(&attributes),
                general.matches(&attributes),
                "{attributes:?}"
            );
        }
    }

    #[test]
    fn cached_filters_answer_as_freshly_parsed_ones() {
        let filter = json!({"n": [{"numeric": [">", 1]}], "s": [{"prefix": "a"}]}).to_string();
        for _ in 0..3 {
            assert_eq!(
                evaluate(Some(&filter), Some(r#"{"n": "2", "s": "ab"}"#)),
                Ok(true)
            );
            assert_eq!(
                evaluate(Some(&filter), Some(r#"{"n": "1", "s": "ab"}"#)),
                Ok(false)
            );
        }
    }
}
