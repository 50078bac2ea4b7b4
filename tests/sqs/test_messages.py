"""Messages over SQS: SendMessage(Batch), ReceiveMessage (long polling included), the MD5s,
DeleteMessage(Batch) and ChangeMessageVisibility(Batch)."""

import threading
import time

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import assert_sqs_error, drain, md5_of_attributes, md5_of_body, receive

ATTRIBUTES = {
    "color": {"DataType": "String", "StringValue": "red"},
    "greeting": {"DataType": "String", "StringValue": "héllo ✓ 😀"},
    "price": {"DataType": "Number", "StringValue": "12.50"},
    "count": {"DataType": "Number", "StringValue": "-3"},
}


# --- The digests themselves, against values AWS answered (as pinned by moto's SQS tests) -------


@pytest.mark.parametrize(
    "name, value, digest",
    [
        ("timestamp", "1493147359900", "235c5c510d26fb653d073faed50ae77c"),
        ("timestamp", "1493147359901", "994258b45346a2cc3f9cbb611aa7af30"),
        ("SOME_Valid.attribute-Name", "1493147359900", "36655e7e9d7c0e8479fa3f3f42247ae7"),
    ],
)
def test_our_attribute_digest_matches_known_sqs_values(name, value, digest):
    assert md5_of_attributes({name: {"DataType": "Number", "StringValue": value}}) == digest


def test_our_attribute_digest_orders_by_name_and_encodes_utf8_and_binary():
    attributes = {
        "ccc": {"StringValue": "testjunk", "DataType": "String"},
        "aaa": {"BinaryValue": b"\x02\x03\x04", "DataType": "Binary"},
        "zzz": {"DataType": "Number", "StringValue": "0230.01"},
        "öther_encodings": {"DataType": "String", "StringValue": "T\xfcst"},
    }
    assert md5_of_attributes(attributes) == "8ae21a7957029ef04146b42aeaa18a22"
    assert md5_of_body("derp") == "58fd9edd83341c29f1aebba81c31e257"


# --- SendMessage and ReceiveMessage ------------------------------------------------------------


def test_send_message_answers_an_id_and_the_digests_sqs_computes(sqs, make_queue):
    _, url = make_queue()
    body = "an order: ünïcödé, <xml> & \"quotes\" 😀"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=ATTRIBUTES)
    assert sent["MessageId"]
    assert sent["MD5OfMessageBody"] == md5_of_body(body)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)
    plain = sqs.send_message(QueueUrl=url, MessageBody="no attributes")
    assert plain["MD5OfMessageBody"] == md5_of_body("no attributes")
    assert "MD5OfMessageAttributes" not in plain
    assert plain["MessageId"] != sent["MessageId"]


def test_receive_message_gives_back_body_attributes_and_digests(sqs, make_queue):
    _, url = make_queue()
    body = "payload ✓"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=ATTRIBUTES)
    [message] = receive(sqs, url, MessageAttributeNames=["All"])
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == body
    assert message["ReceiptHandle"]
    assert message["MD5OfBody"] == md5_of_body(body)
    assert message["MessageAttributes"] == ATTRIBUTES
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)


def test_receive_message_returns_only_the_attributes_named(sqs, make_queue):
    _, url = make_queue()
    meta = {f"meta.{k}": {"DataType": "String", "StringValue": k} for k in "ab"}
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageAttributes={**ATTRIBUTES, **meta})
    [message] = receive(sqs, url, MessageAttributeNames=["price", "color", "absent"], VisibilityTimeout=0)
    chosen = {k: ATTRIBUTES[k] for k in ("price", "color")}
    assert message["MessageAttributes"] == chosen
    # The digest covers what is returned.
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(chosen)
    # A name ending in .* selects by prefix.
    [message] = receive(sqs, url, MessageAttributeNames=["meta.*"], VisibilityTimeout=0)
    assert set(message["MessageAttributes"]) == {"meta.a", "meta.b"}
    # None asked: none returned, and no attribute digest.
    [message] = receive(sqs, url)
    assert "MessageAttributes" not in message
    assert "MD5OfMessageAttributes" not in message


def test_receive_message_system_attributes(sqs, make_queue):
    _, url = make_queue()
    before_ms = int(time.time() * 1000)
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [first] = receive(sqs, url, AttributeNames=["ApproximateReceiveCount", "SentTimestamp"], VisibilityTimeout=0)
    assert set(first["Attributes"]) == {"ApproximateReceiveCount", "SentTimestamp"}
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    # Milliseconds since the epoch (the database's clock: allow some skew).
    assert before_ms - 60_000 <= int(first["Attributes"]["SentTimestamp"]) <= time.time() * 1000 + 60_000
    # The newer parameter, and All.
    [second] = receive(sqs, url, MessageSystemAttributeNames=["All"])
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["Attributes"]["SentTimestamp"] == first["Attributes"]["SentTimestamp"]


def test_receive_message_takes_at_most_max_number_of_messages(sqs, make_queue):
    _, url = make_queue()
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    assert len(receive(sqs, url, 3)) == 3
    assert len(receive(sqs, url, 10)) == 2
    assert receive(sqs, url, 10) == []


@pytest.mark.parametrize("count", [0, 11])
def test_receive_message_refuses_max_number_of_messages_outside_1_to_10(sqs, make_queue, count):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count)
    assert_sqs_error(e, "InvalidParameterValue")


def test_receive_message_refuses_wait_time_seconds_over_20(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21)
    assert_sqs_error(e, "InvalidParameterValue")


def test_receive_message_visibility_timeout_hides_it_that_long(sqs, make_queue):
    _, url = make_queue(VisibilityTimeout=60)
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [first] = receive(sqs, url, VisibilityTimeout=1)
    assert receive(sqs, url) == []
    time.sleep(1.5)
    [again] = receive(sqs, url, AttributeNames=["ApproximateReceiveCount"])
    assert again["MessageId"] == first["MessageId"]
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_long_polling_returns_as_soon_as_a_message_is_sent(sqs, make_queue):
    _, url = make_queue()
    sender = threading.Timer(0.5, lambda: sqs.send_message(QueueUrl=url, MessageBody="wake up"))
    start = time.monotonic()
    sender.start()
    try:
        messages = receive(sqs, url, WaitTimeSeconds=5)
    finally:
        sender.join()
    elapsed = time.monotonic() - start
    assert [m["Body"] for m in messages] == ["wake up"]
    assert 0.4 <= elapsed < 4, f"long poll took {elapsed:.2f} s"


def test_long_polling_waits_the_time_asked_when_nothing_comes(sqs, make_queue):
    _, url = make_queue()
    start = time.monotonic()
    assert receive(sqs, url, WaitTimeSeconds=1) == []
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 4, f"an empty 1 s long poll took {elapsed:.2f} s"


def test_a_queue_keeps_no_default_wait_receive_message_wait_time_seconds_is_0_only(sqs, make_queue, queue_name):
    # psqlqueue stores no per-queue wait: 0 (SQS's default) is accepted, anything else refused.
    _, url = make_queue(ReceiveMessageWaitTimeSeconds=0)
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ReceiveMessageWaitTimeSeconds"])
    assert got["Attributes"] == {"ReceiveMessageWaitTimeSeconds": "0"}
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=queue_name(), Attributes={"ReceiveMessageWaitTimeSeconds": "1"})
    assert_sqs_error(e, "InvalidAttributeValue")


def test_send_message_delay_seconds_holds_it_back(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert [m["Body"] for m in receive(sqs, url)] == ["now"]
    time.sleep(1.3)
    assert [m["Body"] for m in receive(sqs, url)] == ["later"]


def test_a_queue_delay_seconds_holds_every_message_back_unless_the_message_says_0(sqs, make_queue):
    _, url = make_queue(DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="queue delay")
    sqs.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
    assert [m["Body"] for m in receive(sqs, url)] == ["no delay"]
    time.sleep(1.3)
    assert [m["Body"] for m in receive(sqs, url)] == ["queue delay"]


@pytest.mark.parametrize("delay", [-1, 120])
def test_send_message_refuses_a_delay_out_of_range(sqs, make_queue, delay):
    # The range is the extension's: 0 and up, less than the queue's retention (SQS caps it at
    # 900 s; psqlqueue takes longer delays).
    _, url = make_queue(MessageRetentionPeriod=60)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="b", DelaySeconds=delay)
    assert_sqs_error(e, "InvalidParameterValue")


def test_send_message_refuses_an_attribute_without_a_value(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="b", MessageAttributes={"a": {"DataType": "String"}})
    assert_sqs_error(e, "InvalidParameterValue")


def test_send_message_refuses_a_number_attribute_that_is_not_a_number(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message(
            QueueUrl=url,
            MessageBody="b",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": "twelve"}},
        )
    assert_sqs_error(e, "InvalidParameterValue")


def test_send_message_refuses_binary_attributes(sqs, make_queue):
    # psqlqueue stores text attributes only.
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message(
            QueueUrl=url,
            MessageBody="b",
            MessageAttributes={"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
        )
    assert_sqs_error(e, "InvalidParameterValue")


def test_send_message_refuses_a_body_with_characters_sqs_does_not_allow(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="bell \x07")
    assert_sqs_error(e, "InvalidMessageContents")


def test_custom_data_types_and_numbers_keep_their_type(sqs, make_queue):
    _, url = make_queue()
    attributes = {
        "n": {"DataType": "Number.int", "StringValue": "7"},
        "j": {"DataType": "String.json", "StringValue": '{"a": 1}'},
        "f": {"DataType": "Number", "StringValue": "2.5e3"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="typed", MessageAttributes=attributes)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    [message] = receive(sqs, url, MessageAttributeNames=["All"])
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(attributes)


def test_send_message_to_a_missing_queue_is_queue_does_not_exist(sqs, endpoint, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=f"{endpoint}/000000000000/{queue_name()}", MessageBody="b")
    assert_sqs_error(e, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")


def test_a_standard_queue_refuses_a_message_deduplication_id(sqs, make_queue):
    # As SQS does: deduplication is for FIFO queues (test_fifo.py).
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="charge #42", MessageDeduplicationId="charge-42")
    assert_sqs_error(e, "InvalidParameterValue")
    assert receive(sqs, url) == []


def test_a_standard_queue_takes_a_message_group_id_without_ordering_by_it(sqs, make_queue):
    # SQS's fair queues: a standard queue accepts MessageGroupId and does not order by it (the
    # ordered groups are FIFO queues', test_fifo.py).
    _, url = make_queue()
    for body in ("created", "paid", "shipped"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="customer-42")
    assert sorted(m["Body"] for m in receive(sqs, url)) == ["created", "paid", "shipped"]


# --- SendMessageBatch --------------------------------------------------------------------------


def test_send_message_batch_sends_every_entry(sqs, make_queue):
    _, url = make_queue()
    entries = [
        {"Id": "plain", "MessageBody": "one"},
        {"Id": "with-attributes", "MessageBody": "two", "MessageAttributes": ATTRIBUTES},
        {"Id": "delayed", "MessageBody": "three", "DelaySeconds": 60},
    ]
    result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert result.get("Failed", []) == []
    by_id = {s["Id"]: s for s in result["Successful"]}
    assert set(by_id) == {"plain", "with-attributes", "delayed"}
    for entry in entries:
        assert by_id[entry["Id"]]["MD5OfMessageBody"] == md5_of_body(entry["MessageBody"])
        assert by_id[entry["Id"]]["MessageId"]
    assert by_id["with-attributes"]["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)
    assert "MD5OfMessageAttributes" not in by_id["plain"]
    received = receive(sqs, url, MessageAttributeNames=["All"])
    assert sorted(m["Body"] for m in received) == ["one", "two"]
    [two] = [m for m in received if m["Body"] == "two"]
    assert two["MessageAttributes"] == ATTRIBUTES
    assert two["MessageId"] == by_id["with-attributes"]["MessageId"]


def test_send_message_batch_with_one_bad_entry_sends_the_others(sqs, make_queue):
    _, url = make_queue()
    entries = [
        {"Id": "a", "MessageBody": "first"},
        # A NUL character is outside what SQS (and PostgreSQL text) accepts.
        {"Id": "bad", "MessageBody": "nul \x00 inside"},
        {"Id": "c", "MessageBody": "third"},
    ]
    result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(s["Id"] for s in result["Successful"]) == ["a", "c"]
    [failed] = result["Failed"]
    assert failed["Id"] == "bad"
    assert failed["SenderFault"] is True
    assert failed["Code"] in ("InvalidMessageContents", "InvalidParameterValue"), failed
    assert sorted(m["Body"] for m in receive(sqs, url)) == ["first", "third"]


def test_send_message_batch_entry_the_extension_refuses_fails_alone(sqs, make_queue):
    # The sidecar cannot see this one is bad: the extension refuses a delay past the retention.
    _, url = make_queue(MessageRetentionPeriod=60)
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok1", "MessageBody": "first"},
            {"Id": "late", "MessageBody": "too late", "DelaySeconds": 120},
            {"Id": "ok2", "MessageBody": "second"},
        ],
    )
    assert sorted(s["Id"] for s in result["Successful"]) == ["ok1", "ok2"]
    [failed] = result["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == ("late", "InvalidParameterValue", True)
    assert sorted(m["Body"] for m in receive(sqs, url)) == ["first", "second"]


def test_send_message_batch_refuses_a_malformed_entry_id(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "no spaces!", "MessageBody": "a"}])
    assert_sqs_error(e, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId")


def test_send_message_batch_refuses_repeated_entry_ids(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}],
        )
    assert_sqs_error(e, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
    assert receive(sqs, url) == []


def test_send_message_batch_refuses_more_than_10_entries(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)]
        )
    assert_sqs_error(
        e, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    )


def test_send_message_batch_refuses_an_empty_batch(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=url, Entries=[])
    assert_sqs_error(e, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest")


# --- DeleteMessage(Batch) ----------------------------------------------------------------------


def test_delete_message_removes_it_for_good(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [message] = receive(sqs, url, VisibilityTimeout=1)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    time.sleep(1.2)
    assert receive(sqs, url) == []
    got = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert got == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_delete_message_with_a_malformed_receipt_handle_is_receipt_handle_is_invalid(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="b")
    receive(sqs, url)
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-receipt-handle")
    assert_sqs_error(e, "ReceiptHandleIsInvalid", status=404)


def test_delete_message_of_a_message_already_deleted_succeeds(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [message] = receive(sqs, url)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_the_receipt_handle_of_an_earlier_delivery_no_longer_deletes(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [first] = receive(sqs, url, VisibilityTimeout=30)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    [second] = receive(sqs, url, VisibilityTimeout=30)
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert_sqs_error(e, "InvalidParameterValue")
    # The current holder's lease is untouched: its handle deletes.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"
    ] == {"ApproximateNumberOfMessagesNotVisible": "0"}


def test_delete_message_batch_with_one_invalid_receipt_handle_deletes_the_others(sqs, make_queue):
    _, url = make_queue()
    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    messages = drain(sqs, url, 2, VisibilityTimeout=1)
    assert len(messages) == 2
    result = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "first", "ReceiptHandle": messages[0]["ReceiptHandle"]},
            {"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle"},
            {"Id": "second", "ReceiptHandle": messages[1]["ReceiptHandle"]},
        ],
    )
    assert sorted(s["Id"] for s in result["Successful"]) == ["first", "second"]
    [failed] = result["Failed"]
    assert failed["Id"] == "bogus"
    assert failed["Code"] == "ReceiptHandleIsInvalid"
    assert failed["SenderFault"] is True
    time.sleep(1.2)
    assert receive(sqs, url) == []


# --- ChangeMessageVisibility(Batch) ------------------------------------------------------------


def test_change_message_visibility_to_0_makes_it_visible_at_once(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [first] = receive(sqs, url, VisibilityTimeout=60)
    assert receive(sqs, url) == []
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    [again] = receive(sqs, url, AttributeNames=["ApproximateReceiveCount"])
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_change_message_visibility_extends_the_lease(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [message] = receive(sqs, url, VisibilityTimeout=1)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=30)
    time.sleep(1.5)
    assert receive(sqs, url) == []
    # The extended lease's receipt handle still deletes it.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_change_message_visibility_with_a_malformed_receipt_handle_is_receipt_handle_is_invalid(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=0)
    assert_sqs_error(e, "ReceiptHandleIsInvalid", status=404)


def test_change_message_visibility_batch_releases_one_keeps_one_and_reports_a_bad_one(sqs, make_queue):
    _, url = make_queue()
    for body in ("release", "keep"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    messages = {m["Body"]: m for m in drain(sqs, url, 2, VisibilityTimeout=1)}
    assert set(messages) == {"release", "keep"}
    result = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "r", "ReceiptHandle": messages["release"]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "k", "ReceiptHandle": messages["keep"]["ReceiptHandle"], "VisibilityTimeout": 30},
            {"Id": "x", "ReceiptHandle": "not-a-receipt-handle", "VisibilityTimeout": 0},
        ],
    )
    assert sorted(s["Id"] for s in result["Successful"]) == ["k", "r"]
    [failed] = result["Failed"]
    assert failed["Id"] == "x"
    assert failed["Code"] == "ReceiptHandleIsInvalid"
    assert [m["Body"] for m in receive(sqs, url)] == ["release"]
    time.sleep(1.2)
    assert receive(sqs, url) == [], "the extended one stays hidden past its first timeout"


def test_change_message_visibility_batch_entry_without_a_timeout_fails_alone(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="b")
    [message] = receive(sqs, url, VisibilityTimeout=30)
    result = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "no-timeout", "ReceiptHandle": message["ReceiptHandle"]},
            {"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle", "VisibilityTimeout": 0},
        ],
    )
    assert result["Successful"] == []
    assert sorted((f["Id"], f["Code"]) for f in result["Failed"]) == [
        ("bogus", "ReceiptHandleIsInvalid"),
        ("no-timeout", "MissingParameter"),
    ]
