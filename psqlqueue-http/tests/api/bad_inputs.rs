//! A corpus of bad inputs over every route that takes input: each answers 4xx (never 5xx) with
//! the JSON error body, inputs that reach SQL and fail there with a data exception (SQLSTATE
//! class 22: the extension's 22023, PostgreSQL's own 22021 for a NUL byte in text and 22P05
//! for `\u0000` in jsonb) answer 400 with code 3, and none of it writes anything.

use crate::helpers::{TestApp, create_queue, spawn_app_with};
use reqwest::Method;
use serde_json::{Map, Value, json};

/// One bad input and what it must get.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    status: u16,
    code: u64,
    /// Text the error's details must contain (empty: details may be absent).
    details: &'static str,
}

/// The corpus, built up case by case.
#[derive(Default)]
struct Corpus(Vec<Case>);

impl Corpus {
    /// A case with a body.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        what: &'static str,
        method: Method,
        path: impl Into<String>,
        body: impl Into<Vec<u8>>,
        status: u16,
        code: u64,
        details: &'static str,
    ) {
        self.0.push(Case {
            what,
            method,
            path: path.into(),
            body: Some(body.into()),
            status,
            code,
            details,
        });
    }

    /// A case without a body.
    fn call(
        &mut self,
        what: &'static str,
        method: Method,
        path: impl Into<String>,
        status: u16,
        code: u64,
        details: &'static str,
    ) {
        self.0.push(Case {
            what,
            method,
            path: path.into(),
            body: None,
            status,
            code,
            details,
        });
    }
}

/// The details of a 22021 from PostgreSQL: a NUL byte in a text parameter.
const NUL_IN_TEXT: &str = "0x00";
/// The details of a 22P05 from PostgreSQL: `\u0000` in a jsonb parameter.
const NUL_IN_JSONB: &str = "unsupported Unicode escape sequence";
/// The details of serde's refusal of a number outside every type it has.
const OUT_OF_RANGE: &str = "number out of range";

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_objects(depth: usize) -> String {
    format!(r#"{}"x"{}"#, r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

/// A queue body with its fields as raw JSON text.
fn queue(id: &str, ack: &str, retention: &str, delay: &str) -> String {
    format!(
        r#"{{"id": {id}, "ack_deadline_seconds": {ack}, "message_retention_seconds": {retention}, "delivery_delay_seconds": {delay}}}"#
    )
}

fn update(ack: &str, retention: &str) -> String {
    format!(
        r#"{{"ack_deadline_seconds": {ack}, "message_retention_seconds": {retention}, "delivery_delay_seconds": 0}}"#
    )
}

fn subscription(filters: &str) -> String {
    format!(r#"{{"id": "s2", "topic_id": "t", "queue_id": "q", "message_filters": {filters}}}"#)
}

/// A filter of `names` distinct names of at least `name_len` characters, each listing `values`
/// distinct values of at least `value_len` characters.
fn filter(names: usize, name_len: usize, values: usize, value_len: usize) -> String {
    let filter: Map<String, Value> = (0..names)
        .map(|n| {
            let listed = (0..values)
                .map(|v| Value::String(format!("{v:0>value_len$}")))
                .collect();
            (format!("{n:0>name_len$}"), Value::Array(listed))
        })
        .collect();
    Value::Object(filter).to_string()
}

/// A message with a body and `count` attributes, each name and value as given.
fn attributes(count: usize, name: impl Fn(usize) -> String, value: &str) -> String {
    let attributes: Map<String, Value> = (0..count)
        .map(|i| (name(i), Value::String(value.to_owned())))
        .collect();
    json!({"body": "b", "attributes": attributes}).to_string()
}

// One case a line, so the corpus reads as a table.
#[rustfmt::skip]
fn corpus(message_id: &str) -> Corpus {
    use Method as M;
    let long_id = format!(r#""{}""#, "a".repeat(200));
    let mib = 1024 * 1024;
    let over_a_mib = json!({"body": "x".repeat(mib + 1)}).to_string();
    // 2 bytes a character: over the byte limit with fewer characters than it.
    let over_a_mib_in_bytes = json!({"body": "é".repeat(mib / 2 + 1)}).to_string();
    let mut c = Corpus::default();

    // Queue creation: JSON that cannot be read is code 2, values of the wrong type code 3,
    // and what breaks the extension's rules is SQL's 22023 (code 3).
    let q = "/v1/queues";
    c.send("queue: cut-off JSON", M::POST, q, r#"{"id": "#, 400, 2, "invalid JSON");
    c.send("queue: empty body", M::POST, q, "", 400, 2, "invalid JSON");
    c.send("queue: JSON null", M::POST, q, "null", 400, 3, "invalid type: null");
    c.send("queue: JSON array", M::POST, q, "[]", 400, 3, "invalid length 0");
    c.send("queue: JSON string", M::POST, q, r#""q""#, 400, 3, "invalid type: string");
    c.send("queue: no fields", M::POST, q, "{}", 400, 3, "missing field `id`");
    c.send("queue: id a number", M::POST, q, queue("5", "30", "60", "0"), 400, 3, "invalid type: integer");
    c.send("queue: id with NUL", M::POST, q, queue(r#""a\u0000b""#, "30", "60", "0"), 400, 3, NUL_IN_TEXT);
    c.send("queue: id of 200 characters", M::POST, q, queue(&long_id, "30", "60", "0"), 400, 3, "invalid queue.id");
    c.send("queue: empty id", M::POST, q, queue(r#""""#, "30", "60", "0"), 400, 3, "invalid queue.id");
    c.send("queue: id with a slash", M::POST, q, queue(r#""a/b""#, "30", "60", "0"), 400, 3, "invalid queue.id");
    c.send("queue: ack deadline beyond u64", M::POST, q, queue(r#""x""#, "99999999999999999999", "60", "0"), 400, 3, "expected i32");
    c.send("queue: ack deadline beyond i32", M::POST, q, queue(r#""x""#, "5000000000", "60", "0"), 400, 3, "expected i32");
    c.send("queue: ack deadline below i32", M::POST, q, queue(r#""x""#, "-2147483649", "60", "0"), 400, 3, "expected i32");
    c.send("queue: ack deadline 1e400", M::POST, q, queue(r#""x""#, "1e400", "60", "0"), 400, 3, OUT_OF_RANGE);
    c.send("queue: ack deadline a fraction", M::POST, q, queue(r#""x""#, "1.5", "60", "0"), 400, 3, "expected i32");
    c.send("queue: ack deadline a string", M::POST, q, queue(r#""x""#, r#""30""#, "60", "0"), 400, 3, "invalid type: string");
    c.send("queue: ack deadline 0", M::POST, q, queue(r#""x""#, "0", "60", "0"), 400, 3, "invalid ack_deadline_seconds");
    c.send("queue: ack deadline -1", M::POST, q, queue(r#""x""#, "-1", "60", "0"), 400, 3, "invalid ack_deadline_seconds");
    c.send("queue: ack deadline i32::MAX", M::POST, q, queue(r#""x""#, "2147483647", "60", "0"), 400, 3, "invalid ack_deadline_seconds");
    c.send("queue: retention 0", M::POST, q, queue(r#""x""#, "30", "0", "0"), 400, 3, "invalid message_retention_seconds");
    c.send("queue: retention i32::MIN", M::POST, q, queue(r#""x""#, "30", "-2147483648", "0"), 400, 3, "invalid message_retention_seconds");
    c.send("queue: delay equal to retention", M::POST, q, queue(r#""x""#, "30", "60", "60"), 400, 3, "invalid delivery_delay_seconds");
    c.send("queue: negative delay", M::POST, q, queue(r#""x""#, "30", "60", "-1"), 400, 3, "invalid delivery_delay_seconds");
    c.send("queue: 10k nested arrays", M::POST, q, nested_arrays(10_000), 400, 3, "invalid type");
    c.send("queue: id 10k nested objects", M::POST, q, queue(&nested_objects(10_000), "30", "60", "0"), 400, 3, "invalid type: map");
    c.send("queue: trailing characters", M::POST, q, format!("{} x", queue(r#""x""#, "30", "60", "0")), 400, 2, "trailing characters");
    c.send("queue: raw NUL byte in a string", M::POST, q, queue("\"a\0b\"", "30", "60", "0"), 400, 2, "control character");
    let mut not_utf8 = queue(r#""ab""#, "30", "60", "0").into_bytes();
    let at = not_utf8.iter().position(|&b| b == b'b').expect("the id");
    not_utf8[at] = 0xFF;
    c.send("queue: invalid UTF-8", M::POST, q, not_utf8, 400, 2, "invalid JSON");
    c.send("queue: lone surrogate", M::POST, q, queue(r#""\ud800""#, "30", "60", "0"), 400, 2, "invalid JSON");
    c.send("queue: duplicate field", M::POST, q, r#"{"id": "x", "id": "y", "ack_deadline_seconds": 30, "message_retention_seconds": 60}"#, 400, 3, "duplicate field `id`");
    c.send("queue: over the server's body limit", M::POST, q, "x".repeat(5 * mib), 413, 2, "");

    // Queue update.
    c.send("update: cut-off JSON", M::PUT, "/v1/queues/q", "{", 400, 2, "invalid JSON");
    c.send("update: delay missing", M::PUT, "/v1/queues/q", r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 60}"#, 400, 3, "missing field `delivery_delay_seconds`");
    c.send("update: ack deadline beyond i32", M::PUT, "/v1/queues/q", update("2147483648", "60"), 400, 3, "expected i32");
    c.send("update: ack deadline 43201", M::PUT, "/v1/queues/q", update("43201", "60"), 400, 3, "invalid ack_deadline_seconds");
    c.send("update: retention 1209601", M::PUT, "/v1/queues/q", update("30", "1209601"), 400, 3, "invalid message_retention_seconds");
    c.send("update: queue id with NUL", M::PUT, "/v1/queues/q%00", update("30", "60"), 400, 3, NUL_IN_TEXT);
    c.send("update: queue id not UTF-8", M::PUT, "/v1/queues/%FF", update("30", "60"), 400, 2, "UTF-8");

    // Sending a message: body, label and attributes.
    let m = "/v1/queues/q/messages";
    c.send("send: cut-off JSON", M::POST, m, r#"{"body": "#, 400, 2, "invalid JSON");
    c.send("send: no body", M::POST, m, r#"{"label": "l"}"#, 400, 3, "missing field `body`");
    c.send("send: empty body", M::POST, m, r#"{"body": ""}"#, 400, 3, "invalid body");
    c.send("send: body a number", M::POST, m, r#"{"body": 1}"#, 400, 3, "invalid type: integer");
    c.send("send: body null", M::POST, m, r#"{"body": null}"#, 400, 3, "invalid type: null");
    c.send("send: body with NUL", M::POST, m, r#"{"body": "a\u0000b"}"#, 400, 3, NUL_IN_TEXT);
    c.send("send: body of 1 MiB + 1 byte", M::POST, m, over_a_mib.clone(), 400, 3, "invalid body");
    c.send("send: body over 1 MiB in bytes, not in characters", M::POST, m, over_a_mib_in_bytes, 400, 3, "invalid body");
    c.send("send: body 10k nested arrays", M::POST, m, format!(r#"{{"body": {}}}"#, nested_arrays(10_000)), 400, 3, "invalid type");
    c.send("send: body with a lone surrogate", M::POST, m, r#"{"body": "\udc00"}"#, 400, 2, "invalid JSON");
    c.send("send: label of 129 characters", M::POST, m, json!({"body": "b", "label": "l".repeat(129)}).to_string(), 400, 3, "invalid label");
    c.send("send: label with NUL", M::POST, m, r#"{"body": "b", "label": "a\u0000"}"#, 400, 3, NUL_IN_TEXT);
    c.send("send: label a number", M::POST, m, r#"{"body": "b", "label": 7}"#, 400, 3, "invalid type: integer");
    c.send("send: label an array", M::POST, m, r#"{"body": "b", "label": ["l"]}"#, 400, 3, "invalid type: sequence");
    c.send("send: attributes an array", M::POST, m, r#"{"body": "b", "attributes": ["a"]}"#, 400, 3, "got a JSON array");
    c.send("send: attributes a string", M::POST, m, r#"{"body": "b", "attributes": "a=b"}"#, 400, 3, "got a JSON string");
    c.send("send: attribute value a number", M::POST, m, r#"{"body": "b", "attributes": {"n": 1}}"#, 400, 3, "n is a JSON number");
    c.send("send: attribute value an object", M::POST, m, r#"{"body": "b", "attributes": {"n": {"m": "v"}}}"#, 400, 3, "n is a JSON object");
    c.send("send: attribute value null", M::POST, m, r#"{"body": "b", "attributes": {"n": null}}"#, 400, 3, "n is a JSON null");
    c.send("send: attributes 10k nested objects", M::POST, m, format!(r#"{{"body": "b", "attributes": {}}}"#, nested_objects(10_000)), 400, 3, "recursion limit");
    c.send("send: attribute name with NUL", M::POST, m, r#"{"body": "b", "attributes": {"a\u0000": "v"}}"#, 400, 3, NUL_IN_JSONB);
    c.send("send: attribute value with NUL", M::POST, m, r#"{"body": "b", "attributes": {"a": "v\u0000"}}"#, 400, 3, NUL_IN_JSONB);
    c.send("send: 101 attributes", M::POST, m, attributes(101, |i| format!("a{i}"), "v"), 400, 3, "invalid attributes");
    c.send("send: attribute name of 257 characters", M::POST, m, attributes(1, |_| "n".repeat(257), "v"), 400, 3, "invalid attributes");
    c.send("send: empty attribute name", M::POST, m, attributes(1, |_| String::new(), "v"), 400, 3, "invalid attributes");
    c.send("send: attribute value of 1025 characters", M::POST, m, attributes(1, |_| "n".to_owned(), &"v".repeat(1025)), 400, 3, "invalid attributes");
    c.send("send: queue id with NUL", M::POST, "/v1/queues/q%00/messages", r#"{"body": "b"}"#, 400, 3, NUL_IN_TEXT);
    c.send("send: queue id of 200 characters", M::POST, format!("/v1/queues/{}/messages", "a".repeat(200)), r#"{"body": "b"}"#, 404, 5, "not found");
    c.send("send: queue id not UTF-8", M::POST, "/v1/queues/%FF%FE/messages", r#"{"body": "b"}"#, 400, 2, "UTF-8");

    // Receiving: the query string. (A large valid limit is capped, not refused.)
    c.call("receive: limit 0", M::GET, format!("{m}?limit=0"), 400, 3, "invalid limit");
    c.call("receive: limit -1", M::GET, format!("{m}?limit=-1"), 400, 3, "invalid limit");
    c.call("receive: limit beyond i32", M::GET, format!("{m}?limit=99999999999"), 400, 3, "limit");
    c.call("receive: limit not a number", M::GET, format!("{m}?limit=ten"), 400, 3, "limit");
    c.call("receive: empty limit", M::GET, format!("{m}?limit="), 400, 3, "limit");
    c.call("receive: limit twice", M::GET, format!("{m}?limit=1&limit=2"), 400, 3, "duplicate field");
    c.call("receive: label with NUL", M::GET, format!("{m}?label=%00"), 400, 3, NUL_IN_TEXT);
    c.call("receive: queue id with NUL", M::GET, "/v1/queues/%00/messages", 400, 3, NUL_IN_TEXT);
    c.call("receive: wait_seconds 21", M::GET, "/v1/queues/q/messages?wait_seconds=21", 400, 3, "invalid wait_seconds");
    c.call("receive: wait_seconds a word", M::GET, "/v1/queues/q/messages?wait_seconds=long", 400, 3, "wait_seconds");

    // Ack and nack of the one message there is: none of these may touch it.
    let ack = format!("/v1/queues/q/messages/{message_id}/ack");
    let nack = format!("/v1/queues/q/messages/{message_id}/nack");
    c.call("ack: message id with NUL", M::PUT, "/v1/queues/q/messages/a%00b/ack", 400, 3, NUL_IN_TEXT);
    c.call("ack: queue id with NUL", M::PUT, format!("/v1/queues/q%00/messages/{message_id}/ack"), 400, 3, NUL_IN_TEXT);
    c.call("ack: message id of 200 characters", M::PUT, format!("/v1/queues/q/messages/{}/ack", "m".repeat(200)), 404, 6, "not found");
    c.call("ack: message id not UTF-8", M::PUT, "/v1/queues/q/messages/%C0%AF/ack", 400, 2, "UTF-8");
    c.send("nack: cut-off JSON", M::PUT, nack.clone(), "{", 400, 2, "invalid JSON");
    c.send("nack: timeout -1", M::PUT, nack.clone(), r#"{"visibility_timeout_seconds": -1}"#, 400, 3, "invalid visibility_timeout_seconds");
    c.call("nack: timeout 43201 in the query", M::PUT, format!("{nack}?visibility_timeout_seconds=43201"), 400, 3, "invalid visibility_timeout_seconds");
    c.send("nack: timeout beyond i32", M::PUT, nack.clone(), r#"{"visibility_timeout_seconds": 2147483648}"#, 400, 3, "expected i32");
    c.send("nack: timeout 1e400", M::PUT, nack.clone(), r#"{"visibility_timeout_seconds": 1e400}"#, 400, 3, OUT_OF_RANGE);
    c.call("nack: timeout not a number in the query", M::PUT, format!("{nack}?visibility_timeout_seconds=soon"), 400, 3, "visibility_timeout_seconds");
    c.send("nack: JSON null", M::PUT, nack.clone(), "null", 400, 3, "invalid type: null");
    c.send("nack: message id with NUL", M::PUT, "/v1/queues/q/messages/%00/nack", r#"{"visibility_timeout_seconds": 0}"#, 400, 3, NUL_IN_TEXT);
    c.call("ack: wrong method", M::POST, ack.clone(), 405, 2, "");
    c.send("ack: cut-off JSON", M::PUT, ack.clone(), "{", 400, 2, "invalid JSON");
    c.send("ack: receipt a number", M::PUT, ack.clone(), r#"{"receipt": 5}"#, 400, 3, "invalid type: integer");
    c.send("ack: receipt with NUL", M::PUT, ack.clone(), r#"{"receipt": "\u0000"}"#, 400, 3, NUL_IN_TEXT);
    c.call("ack: a receipt of another lease", M::PUT, format!("{ack}?receipt=made-up"), 409, 11, "no longer held");
    c.send("nack: receipt an array", M::PUT, nack.clone(), r#"{"receipt": ["r"]}"#, 400, 3, "invalid type: sequence");

    // Extend, batches and redrive.
    let extend = format!("/v1/queues/q/messages/{message_id}/extend");
    c.send("extend: no receipt", M::PUT, extend.clone(), r#"{"seconds": 5}"#, 400, 3, "missing field `receipt`");
    c.send("extend: seconds 0", M::PUT, extend.clone(), r#"{"receipt": "r", "seconds": 0}"#, 400, 3, "invalid seconds");
    c.send("extend: seconds 43201", M::PUT, extend.clone(), r#"{"receipt": "r", "seconds": 43201}"#, 400, 3, "invalid seconds");
    c.send("extend: seconds a string", M::PUT, extend.clone(), r#"{"receipt": "r", "seconds": "5"}"#, 400, 3, "invalid type: string");
    c.call("extend: no body", M::PUT, extend.clone(), 400, 2, "invalid JSON");
    c.send("extend: a receipt of another lease", M::PUT, extend, r#"{"receipt": "r", "seconds": 5}"#, 409, 11, "no longer held");
    let batch = "/v1/queues/q/messages/ack";
    c.send("ack batch: no messages", M::PUT, batch, r#"{"messages": []}"#, 400, 3, "invalid message_ids");
    c.send("ack batch: 1001 messages", M::PUT, batch, json!({"messages": vec![json!({"id": "m"}); 1001]}).to_string(), 400, 3, "got 1001");
    c.send("ack batch: an entry without id", M::PUT, batch, r#"{"messages": [{"receipt": "r"}]}"#, 400, 3, "missing field `id`");
    c.send("ack batch: id with NUL", M::PUT, batch, r#"{"messages": [{"id": "\u0000"}]}"#, 400, 3, NUL_IN_TEXT);
    c.send("nack batch: timeout -1", M::PUT, "/v1/queues/q/messages/nack", format!(r#"{{"messages": [{{"id": "{message_id}"}}], "visibility_timeout_seconds": -1}}"#), 400, 3, "invalid visibility_timeout_seconds");
    c.send("redrive: limit 0", M::PUT, "/v1/queues/q/redrive", r#"{"limit": 0}"#, 400, 3, "invalid limit");
    c.send("redrive: target itself", M::PUT, "/v1/queues/q/redrive", r#"{"target_queue_id": "q"}"#, 400, 3, "invalid target_queue");
    c.send("redrive: target with NUL", M::PUT, "/v1/queues/q/redrive", r#"{"target_queue_id": "\u0000"}"#, 400, 3, NUL_IN_TEXT);
    c.send("redrive: cut-off JSON", M::PUT, "/v1/queues/q/redrive", "{", 400, 2, "invalid JSON");

    // Pagination of every list.
    c.call("list queues: limit 0", M::GET, "/v1/queues?limit=0", 400, 3, "invalid limit");
    c.call("list queues: limit -5", M::GET, "/v1/queues?limit=-5", 400, 3, "invalid limit");
    c.call("list queues: offset a fraction", M::GET, "/v1/queues?offset=1.5", 400, 3, "offset");
    c.call("list topics: offset -1", M::GET, "/v1/topics?offset=-1", 400, 3, "invalid offset");
    c.call("list subscriptions: limit beyond i32", M::GET, "/v1/subscriptions?limit=4294967296", 400, 3, "limit");

    // Topics and publishing.
    let p = "/v1/topics/t/messages";
    c.send("topic: cut-off JSON", M::POST, "/v1/topics", "{", 400, 2, "invalid JSON");
    c.send("topic: id with NUL", M::POST, "/v1/topics", r#"{"id": "t\u0000"}"#, 400, 3, NUL_IN_TEXT);
    c.send("topic: id of 200 characters", M::POST, "/v1/topics", format!(r#"{{"id": {long_id}}}"#), 400, 3, "invalid topic.id");
    c.send("topic: id an array", M::POST, "/v1/topics", r#"{"id": ["t"]}"#, 400, 3, "invalid type: sequence");
    c.send("publish: body with NUL", M::POST, p, r#"{"body": "\u0000"}"#, 400, 3, NUL_IN_TEXT);
    c.send("publish: body of 1 MiB + 1 byte", M::POST, p, over_a_mib, 400, 3, "invalid body");
    c.send("publish: label of 129 characters", M::POST, p, json!({"body": "b", "label": "l".repeat(129)}).to_string(), 400, 3, "invalid label");
    c.send("publish: 101 attributes", M::POST, p, attributes(101, |i| format!("a{i}"), "v"), 400, 3, "invalid attributes");
    c.send("publish: attribute name with NUL", M::POST, p, r#"{"body": "b", "attributes": {"\u0000": "v"}}"#, 400, 3, NUL_IN_JSONB);
    c.send("publish: topic id with NUL", M::POST, "/v1/topics/t%00/messages", r#"{"body": "b"}"#, 400, 3, NUL_IN_TEXT);
    c.call("get topic: id not UTF-8", M::GET, "/v1/topics/%80", 400, 2, "UTF-8");
    c.call("delete topic: id with NUL", M::DELETE, "/v1/topics/t%00", 400, 3, NUL_IN_TEXT);

    // Subscriptions and their filters.
    let s = "/v1/subscriptions";
    c.send("subscription: filters 10k nested arrays", M::POST, s, subscription(&nested_arrays(10_000)), 400, 3, "recursion limit");
    c.send("subscription: filters 10k nested objects", M::POST, s, subscription(&nested_objects(10_000)), 400, 3, "recursion limit");
    c.send("subscription: filter 100 nested arrays", M::POST, s, subscription(&format!(r#"{{"a": {}}}"#, nested_arrays(100))), 400, 3, "invalid message_filters");
    c.send("subscription: filter value 1e400", M::POST, s, subscription(r#"{"a": [1e400]}"#), 400, 3, OUT_OF_RANGE);
    c.send("subscription: filter value 1e308", M::POST, s, subscription(r#"{"a": [1e308]}"#), 400, 3, "invalid message_filters");
    c.send("subscription: filter value a 31-digit integer", M::POST, s, subscription(r#"{"a": [1000000000000000000000000000000]}"#), 400, 3, "invalid message_filters");
    c.send("subscription: filter name with NUL", M::POST, s, subscription(r#"{"a\u0000": ["x"]}"#), 400, 3, NUL_IN_JSONB);
    c.send("subscription: filter value with NUL", M::POST, s, subscription(r#"{"a": ["\u0000"]}"#), 400, 3, NUL_IN_JSONB);
    c.send("subscription: filters a string", M::POST, s, subscription(r#""a=x""#), 400, 3, "invalid message_filters");
    c.send("subscription: filter with no values", M::POST, s, subscription(r#"{"a": []}"#), 400, 3, "invalid message_filters");
    c.send("subscription: filter of 101 names", M::POST, s, subscription(&filter(101, 1, 1, 1)), 400, 3, "invalid message_filters");
    c.send("subscription: filter name of 257 characters", M::POST, s, subscription(&filter(1, 257, 1, 1)), 400, 3, "invalid message_filters");
    c.send("subscription: filter listing 101 values", M::POST, s, subscription(&filter(1, 1, 101, 1)), 400, 3, "invalid message_filters");
    c.send("subscription: filter value of 1025 characters", M::POST, s, subscription(&filter(1, 1, 1, 1025)), 400, 3, "invalid message_filters");
    c.send("subscription: id with NUL", M::POST, s, r#"{"id": "\u0000", "topic_id": "t", "queue_id": "q"}"#, 400, 3, NUL_IN_TEXT);
    c.send("subscription: id of 200 characters", M::POST, s, format!(r#"{{"id": {long_id}, "topic_id": "t", "queue_id": "q"}}"#), 400, 3, "invalid subscription.id");
    c.send("subscription: topic id with NUL", M::POST, s, r#"{"id": "s2", "topic_id": "t\u0000", "queue_id": "q"}"#, 400, 3, NUL_IN_TEXT);
    c.send("subscription: queue id a number", M::POST, s, r#"{"id": "s2", "topic_id": "t", "queue_id": 1}"#, 400, 3, "invalid type: integer");
    c.send("subscription: no topic", M::POST, s, r#"{"id": "s2", "queue_id": "q"}"#, 400, 3, "missing field `topic_id`");
    c.call("get subscription: id with NUL", M::GET, "/v1/subscriptions/s%00", 400, 3, NUL_IN_TEXT);
    c.call("delete subscription: id with NUL", M::DELETE, "/v1/subscriptions/s%00", 400, 3, NUL_IN_TEXT);

    // The other queue routes that take an id.
    c.call("get queue: id with NUL", M::GET, "/v1/queues/q%00", 400, 3, NUL_IN_TEXT);
    c.call("delete queue: id with NUL", M::DELETE, "/v1/queues/q%00", 400, 3, NUL_IN_TEXT);
    c.call("purge queue: id with NUL", M::PUT, "/v1/queues/q%00/purge", 400, 3, NUL_IN_TEXT);
    c.call("cleanup queue: id not UTF-8", M::PUT, "/v1/queues/%FF/cleanup", 400, 2, "UTF-8");
    c.call("queue stats: id with NUL", M::GET, "/v1/queues/%00/stats", 400, 3, NUL_IN_TEXT);
    c.call("queues: wrong method", M::PATCH, "/v1/queues", 405, 2, "");

    // Dead-letter settings.
    let dl = |max: &str, target: &str| {
        format!(
            r#"{{"id": "d", "ack_deadline_seconds": 30, "message_retention_seconds": 60, "max_delivery_attempts": {max}, "dead_letter_queue_id": {target}}}"#
        )
    };
    c.send("queue: max attempts without a target", M::POST, "/v1/queues", dl("5", "null"), 400, 3, "set together");
    c.send("queue: a target without max attempts", M::POST, "/v1/queues", dl("null", r#""q""#), 400, 3, "set together");
    c.send("queue: max attempts 0", M::POST, "/v1/queues", dl("0", r#""q""#), 400, 3, "invalid max_delivery_attempts");
    c.send("queue: max attempts 1001", M::POST, "/v1/queues", dl("1001", r#""q""#), 400, 3, "invalid max_delivery_attempts");
    c.send("queue: its own dead-letter queue", M::POST, "/v1/queues", dl("5", r#""d""#), 400, 3, "must name another queue");
    c.send("queue: a missing dead-letter queue", M::POST, "/v1/queues", dl("5", r#""nope""#), 400, 3, "does not exist");
    c.send("queue: target with NUL", M::POST, "/v1/queues", dl("5", r#""q\u0000""#), 400, 3, NUL_IN_TEXT);
    c.send("update queue: its own dead-letter queue", M::PUT, "/v1/queues/q", r#"{"ack_deadline_seconds": 30, "message_retention_seconds": 60, "delivery_delay_seconds": 0, "max_delivery_attempts": 2, "dead_letter_queue_id": "q"}"#, 400, 3, "must name another queue");
    c
}

/// Everything the corpus could have changed, read straight from the tables.
async fn snapshot(app: &TestApp) -> Vec<String> {
    let row = app
        .db()
        .connect()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM psqlqueue.messages)::text,
                    (SELECT count(*) FROM psqlqueue.queues)::text,
                    (SELECT count(*) FROM psqlqueue.topics)::text,
                    (SELECT count(*) FROM psqlqueue.subscriptions)::text,
                    (SELECT string_agg(concat_ws(' ', id, visible_at, delivery_attempts), ', ' ORDER BY id)
                       FROM psqlqueue.messages),
                    (SELECT string_agg(concat_ws(' ', id, updated_at), ', ' ORDER BY id)
                       FROM psqlqueue.queues)",
            &[],
        )
        .await
        .expect("snapshot");
    (0..row.len())
        .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn bad_inputs_are_refused_with_4xx_and_write_nothing() {
    // Room for bodies over the extension's 1 MiB, so its limit is what refuses them.
    let app = spawn_app_with(&[("PSQLQUEUE_SERVER_MAX_BODY_BYTES", "4194304")]).await;
    create_queue(&app, "q", 30).await;
    assert_eq!(app.post("/v1/topics", r#"{"id": "t"}"#).await.0, 201);
    let (status, json) = app
        .post(
            "/v1/subscriptions",
            r#"{"id": "s", "topic_id": "t", "queue_id": "q"}"#,
        )
        .await;
    assert_eq!(status, 201, "{json}");
    let (status, sent) = app.post("/v1/queues/q/messages", r#"{"body": "b"}"#).await;
    assert_eq!(status, 201, "{sent}");
    let message_id = sent["id"].as_str().expect("message id").to_owned();
    let before = snapshot(&app).await;

    let cases = corpus(&message_id).0;
    assert!(cases.len() >= 50, "{} cases", cases.len());
    for case in cases {
        let Case {
            what,
            method,
            path,
            body,
            status,
            code,
            details,
        } = case;
        let (got, text) = app.call_bytes(method.clone(), &path, body).await;
        // Paths of 200-character ids would drown the message.
        let shown: String = path.chars().take(80).collect();
        let context = format!("{what} ({method} {shown}) answered {got}: {text}");
        assert!((400..500).contains(&got), "not a 4xx: {context}");
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not a JSON body ({e}): {context}"));
        let object = json
            .as_object()
            .unwrap_or_else(|| panic!("not a JSON object: {context}"));
        assert!(
            object
                .keys()
                .all(|k| ["code", "message", "details"].contains(&k.as_str())),
            "unexpected fields: {context}"
        );
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message: {context}"
        );
        assert_eq!(
            (got, json["code"].as_u64()),
            (status, Some(code)),
            "{context}"
        );
        if !details.is_empty() {
            assert!(
                json["details"]
                    .as_str()
                    .is_some_and(|d| d.contains(details)),
                "details lack {details:?}: {context}"
            );
        }
    }

    assert_eq!(snapshot(&app).await, before, "the corpus wrote nothing");
    let metrics = app.scrape("/metrics").await;
    assert!(
        !metrics.contains(r#"status="5"#),
        "no 5xx counted:\n{metrics}"
    );
    app.stop().await;
}
