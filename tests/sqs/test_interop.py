"""One queue, three APIs: what SQS sends, REST v1 and SQL receive, and the reverse, with bodies
and attributes intact (an SQS String attribute is a plain attribute elsewhere)."""

from urllib.parse import quote

from sqs_helpers import md5_of_attributes, md5_of_body, receive, rest, sql_json

SQS_ATTRIBUTES = {
    "color": {"DataType": "String", "StringValue": "red"},
    "note": {"DataType": "String", "StringValue": "ünïcödé ✓"},
}
PLAIN_ATTRIBUTES = {name: a["StringValue"] for name, a in SQS_ATTRIBUTES.items()}
BODY = 'order {"id": 1234} — ✓'


def test_a_queue_made_over_sqs_is_the_queue_rest_sees_and_the_reverse(sqs, make_queue, endpoint, queue_name):
    name, _ = make_queue(VisibilityTimeout=42)
    status, queue = rest("GET", f"/v1/queues/{name}")
    assert status == 200 and queue["ack_deadline_seconds"] == 42
    other = queue_name("-rest")
    status, _ = rest("POST", "/v1/queues", {"id": other, "ack_deadline_seconds": 17,
                                            "message_retention_seconds": 3600})
    assert status == 201
    try:
        url = sqs.get_queue_url(QueueName=other)["QueueUrl"]
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "MessageRetentionPeriod"])
        assert got["Attributes"] == {"VisibilityTimeout": "17", "MessageRetentionPeriod": "3600"}
    finally:
        rest("DELETE", f"/v1/queues/{other}")


def test_sent_over_sqs_received_over_rest(sqs, make_queue):
    name, url = make_queue()
    sent = sqs.send_message(QueueUrl=url, MessageBody=BODY, MessageAttributes=SQS_ATTRIBUTES)
    status, page = rest("GET", f"/v1/queues/{name}/messages?limit=10")
    assert status == 200
    [message] = page["data"]
    assert message["id"] == sent["MessageId"]
    assert message["body"] == BODY
    assert message["attributes"] == PLAIN_ATTRIBUTES
    status, _ = rest("PUT", f"/v1/queues/{name}/messages/{message['id']}/ack?receipt={quote(message['receipt'])}")
    assert status == 204
    assert receive(sqs, url) == []


def test_sent_over_sqs_received_over_sql(sqs, make_queue):
    name, url = make_queue()
    sent = sqs.send_message(QueueUrl=url, MessageBody=BODY, MessageAttributes=SQS_ATTRIBUTES)
    rows = sql_json("SELECT json_agg(r) FROM psqlqueue.receive(:'q') AS r", q=name)
    [row] = rows
    assert row["id"] == sent["MessageId"]
    assert row["body"] == BODY
    assert row["attributes"] == PLAIN_ATTRIBUTES
    sql_json("SELECT psqlqueue.ack(:'q', :'id', :'receipt')", q=name, id=row["id"], receipt=row["receipt"])
    assert receive(sqs, url) == []


def test_sent_over_rest_received_over_sqs(sqs, make_queue):
    name, url = make_queue()
    status, sent = rest("POST", f"/v1/queues/{name}/messages", {"body": BODY, "attributes": PLAIN_ATTRIBUTES})
    assert status == 201
    [message] = receive(sqs, url, MessageAttributeNames=["All"], AttributeNames=["ApproximateReceiveCount"])
    assert message["MessageId"] == sent["id"]
    assert message["Body"] == BODY
    assert message["MD5OfBody"] == md5_of_body(BODY)
    assert message["MessageAttributes"] == SQS_ATTRIBUTES
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(SQS_ATTRIBUTES)
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    status, page = rest("GET", f"/v1/queues/{name}/messages")
    assert status == 200 and page["data"] == []


def test_sent_over_sql_received_over_sqs(sqs, make_queue):
    name, url = make_queue()
    message_id = sql_json(
        "SELECT to_json(psqlqueue.send(:'q', :'body', NULL, :'attributes'::jsonb))",
        q=name,
        body=BODY,
        attributes='{"color": "red", "note": "ünïcödé ✓"}',
    )
    [message] = receive(sqs, url, MessageAttributeNames=["All"])
    assert message["MessageId"] == message_id
    assert message["Body"] == BODY
    assert message["MessageAttributes"] == SQS_ATTRIBUTES
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(SQS_ATTRIBUTES)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sql_json("SELECT json_agg(r) FROM psqlqueue.receive(:'q') AS r", q=name) is None


def test_a_number_attribute_is_a_plain_string_over_rest_and_sql(sqs, make_queue):
    name, url = make_queue()
    typed = {"price": {"DataType": "Number", "StringValue": "12.50"}, **SQS_ATTRIBUTES}
    sqs.send_message(QueueUrl=url, MessageBody="typed", MessageAttributes=typed)
    # SQS keeps the type (received and given back at once) ...
    [message] = receive(sqs, url, MessageAttributeNames=["All"], VisibilityTimeout=0)
    assert message["MessageAttributes"] == typed
    # ... SQL and REST see the value as a string, beside the sidecar's own record of its type:
    # one key per typed attribute, under SQS's reserved prefix AWS. (String needs none).
    [row] = sql_json("SELECT json_agg(r) FROM psqlqueue.receive(:'q', visibility_timeout_seconds => 0) AS r", q=name)
    assert row["attributes"]["price"] == "12.50"
    assert {k: v for k, v in row["attributes"].items() if k.startswith("AWS.")} == {
        "AWS.psqlqueue.DataType.price": "Number"
    }
    assert {k for k in row["attributes"] if not k.startswith("AWS.")} == {"price", *PLAIN_ATTRIBUTES}
    status, page = rest("GET", f"/v1/queues/{name}/messages")
    assert status == 200 and page["data"][0]["attributes"] == row["attributes"]


def test_types_kept_the_old_way_still_read_and_bad_ones_read_as_string(sqs, make_queue):
    name, url = make_queue()
    # Earlier sidecars kept every type in one JSON object under AWS.psqlqueue.DataTypes.
    old = {"price": "12.50", "AWS.psqlqueue.DataTypes": '{"price": "Number.cents"}', **PLAIN_ATTRIBUTES}
    status, _ = rest("POST", f"/v1/queues/{name}/messages", {"body": "old", "attributes": old})
    assert status == 201
    [message] = receive(sqs, url, MessageAttributeNames=["All"])
    typed = {"price": {"DataType": "Number.cents", "StringValue": "12.50"}, **SQS_ATTRIBUTES}
    assert message["MessageAttributes"] == typed
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(typed)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # A type no SQS send could have stored is ignored: the attribute is a String.
    odd = {"price": "12.50", "AWS.psqlqueue.DataType.price": "Binary"}
    status, _ = rest("POST", f"/v1/queues/{name}/messages", {"body": "odd", "attributes": odd})
    assert status == 201
    [message] = receive(sqs, url, MessageAttributeNames=["All"])
    assert message["MessageAttributes"] == {"price": {"DataType": "String", "StringValue": "12.50"}}


def test_a_message_without_attributes_crosses_without_any(sqs, make_queue):
    name, url = make_queue()
    rest("POST", f"/v1/queues/{name}/messages", {"body": "bare"})
    [message] = receive(sqs, url, MessageAttributeNames=["All"])
    assert "MessageAttributes" not in message and "MD5OfMessageAttributes" not in message
    sqs.send_message(QueueUrl=url, MessageBody="bare too")
    [row] = sql_json("SELECT json_agg(r) FROM psqlqueue.receive(:'q') AS r", q=name)
    assert row["body"] == "bare too" and row["attributes"] == {}
