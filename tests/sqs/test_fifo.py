"""FIFO queues (`.fifo`, FifoQueue=true): order within a message group and deduplication by
MessageDeduplicationId (psqlqueue's ordered groups and deduplication). Content-based
deduplication is not offered: refused."""

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import error_of, receive


@pytest.fixture
def fifo(make_queue):
    return make_queue(".fifo", FifoQueue=True)


def test_a_fifo_queue_says_so(sqs, fifo):
    _, url = fifo
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert got["FifoQueue"] == "true"
    assert got.get("ContentBasedDeduplication", "false") == "false"


def test_fifo_order_holds_within_each_group(sqs, fifo):
    _, url = fifo
    sent = {"a": [], "b": [], "c": []}
    for i in range(4):
        for group in sent:
            body = f"{group}{i}"
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)
            sent[group].append(body)
    got = {group: [] for group in sent}
    for _ in range(30):
        batch = receive(sqs, url, 10, AttributeNames=["MessageGroupId"])
        if not batch:
            break
        for message in batch:
            assert message["Attributes"]["MessageGroupId"] == message["Body"][0]
            got[message["Body"][0]].append(message["Body"])
        # While a group has messages in flight, no later one of it is delivered.
        in_flight = {m["Body"][0] for m in batch}
        for message in receive(sqs, url, 10):
            assert message["Body"][0] not in in_flight, f"{message['Body']} delivered while its group is in flight"
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    assert got == sent


def test_fifo_deduplication_id_sends_once(sqs, fifo):
    _, url = fifo
    first = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
    again = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
    assert again["MessageId"] == first["MessageId"]
    [message] = receive(sqs, url, AttributeNames=["MessageGroupId"])
    assert message["MessageId"] == first["MessageId"]
    assert message["Attributes"]["MessageGroupId"] == "g"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert receive(sqs, url) == []
    # Still within the deduplication window after the delete: still one message.
    again = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
    assert again["MessageId"] == first["MessageId"]
    assert receive(sqs, url) == []


def test_send_message_batch_on_a_fifo_queue_keeps_the_entries_order(sqs, fifo):
    _, url = fifo
    entries = [
        {"Id": f"e{i}", "MessageBody": f"m{i}", "MessageGroupId": "g", "MessageDeduplicationId": f"m{i}"}
        for i in range(5)
    ]
    result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert result.get("Failed", []) == [] and len(result["Successful"]) == 5
    order = []
    for _ in range(5):
        [message] = receive(sqs, url)
        order.append(message["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert order == [f"m{i}" for i in range(5)]


def test_content_based_deduplication_is_refused(sqs, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(
            QueueName=queue_name(".fifo"), Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )
    code, _, status = error_of(e)
    assert (code, status) == ("InvalidAttributeValue", 400), e.value


def test_a_fifo_queue_takes_no_per_message_delay(sqs, fifo):
    _, url = fifo
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=5)
    code, _, status = error_of(e)
    assert (code, status) == ("InvalidParameterValue", 400), e.value


def test_a_fifo_queue_needs_a_message_group_id(sqs, fifo):
    _, url = fifo
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    code, _, status = error_of(e)
    assert (code, status) == ("MissingParameter", 400), e.value


def test_a_fifo_queue_without_content_deduplication_needs_a_deduplication_id(sqs, fifo):
    _, url = fifo
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    code, _, status = error_of(e)
    assert (code, status) == ("InvalidParameterValue", 400), e.value


def test_fifo_queue_attribute_and_the_fifo_suffix_go_together(sqs, queue_name):
    for name, attributes in ((queue_name(), {"FifoQueue": "true"}), (queue_name(".fifo"), {})):
        with pytest.raises(ClientError) as e:
            sqs.create_queue(QueueName=name, Attributes=attributes)
        code, _, status = error_of(e)
        assert (code, status) in {("InvalidParameterValue", 400), ("InvalidAttributeValue", 400)}, (name, e.value)
