"""Dead letters over SQS: a RedrivePolicy moves a poison message to its dead-letter queue after
maxReceiveCount receives; ListDeadLetterSourceQueues names the sources."""

import json

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import error_of, receive


def arn_of(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def redrive_policy(sqs, url):
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    return json.loads(got["RedrivePolicy"]) if "RedrivePolicy" in got else None


def test_a_poison_message_moves_to_the_dead_letter_queue_after_max_receive_count(sqs, make_queue):
    _, dlq = make_queue("-dlq")
    policy = {"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 2}
    _, source = make_queue(RedrivePolicy=json.dumps(policy))
    attributes = {"kind": {"DataType": "String", "StringValue": "poison"}}
    sent = sqs.send_message(QueueUrl=source, MessageBody="poison", MessageAttributes=attributes)
    for attempt in (1, 2):
        [message] = receive(sqs, source, VisibilityTimeout=30, AttributeNames=["ApproximateReceiveCount"])
        assert message["Attributes"]["ApproximateReceiveCount"] == str(attempt)
        # The consumer fails and gives the message back at once.
        sqs.change_message_visibility(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    # The third receive finds its receives spent: it is moved, not delivered.
    assert receive(sqs, source) == []
    [dead] = receive(sqs, dlq, MessageAttributeNames=["All"])
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"] == attributes
    assert receive(sqs, source) == []


def test_redrive_policy_is_shown_and_max_receive_count_may_be_a_string(sqs, make_queue):
    _, dlq = make_queue("-dlq")
    arn = arn_of(sqs, dlq)
    _, source = make_queue(RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "5"}))
    policy = redrive_policy(sqs, source)
    assert policy["deadLetterTargetArn"] == arn
    assert int(policy["maxReceiveCount"]) == 5


def test_set_queue_attributes_adds_changes_and_removes_a_redrive_policy(sqs, make_queue):
    _, dlq = make_queue("-dlq")
    arn = arn_of(sqs, dlq)
    _, source = make_queue()
    assert redrive_policy(sqs, source) is None
    sqs.set_queue_attributes(
        QueueUrl=source, Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})}
    )
    assert int(redrive_policy(sqs, source)["maxReceiveCount"]) == 3
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]
    # An empty policy removes it, as on SQS.
    sqs.set_queue_attributes(QueueUrl=source, Attributes={"RedrivePolicy": ""})
    assert redrive_policy(sqs, source) is None
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq).get("queueUrls", []) == []


def test_list_dead_letter_source_queues_names_every_source(sqs, make_queue):
    _, dlq = make_queue("-dlq")
    arn = arn_of(sqs, dlq)
    sources = [
        make_queue(f"-src{i}", RedrivePolicy=json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1}))[1]
        for i in range(3)
    ]
    make_queue("-unrelated")
    assert sorted(sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]) == sorted(sources)
    page = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2)
    assert len(page["queueUrls"]) <= 2


def test_a_redrive_policy_naming_a_missing_queue_is_refused(sqs, queue_name):
    policy = {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:000000000000:{queue_name('-nowhere')}", "maxReceiveCount": 2}
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=queue_name(), Attributes={"RedrivePolicy": json.dumps(policy)})
    code, _, status = error_of(e)
    # SQS answers InvalidParameterValue ("Dead letter target does not exist").
    assert (code, status) in {("InvalidParameterValue", 400), ("InvalidAttributeValue", 400)}, (code, status)


def poison(sqs, source, dlq_url, bodies):
    """Sends `bodies` to `source` (maxReceiveCount 1) and lets each be received once and given
    back, so the next receive moves them all to the dead-letter queue."""
    for body in bodies:
        sqs.send_message(QueueUrl=source, MessageBody=body)
    for message in receive(sqs, source, 10, VisibilityTimeout=30):
        sqs.change_message_visibility(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert receive(sqs, source) == []
    counts = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == str(len(bodies))


def test_start_message_move_task_sends_dead_letters_back_to_their_source(sqs, make_queue):
    _, dlq = make_queue("-dlq")
    dlq_arn = arn_of(sqs, dlq)
    _, source = make_queue(RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    poison(sqs, source, dlq, ["p1", "p2"])
    task = sqs.start_message_move_task(SourceArn=dlq_arn)
    assert task["TaskHandle"]
    assert receive(sqs, dlq) == []
    assert sorted(m["Body"] for m in receive(sqs, source, 10, AttributeNames=["ApproximateReceiveCount"])) == ["p1", "p2"]


def test_start_message_move_task_to_a_destination_moves_everything_there(sqs, make_queue):
    _, dlq = make_queue("-dlq")
    dlq_arn = arn_of(sqs, dlq)
    _, source = make_queue(RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    _, elsewhere = make_queue("-elsewhere")
    poison(sqs, source, dlq, ["p1"])
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn_of(sqs, elsewhere))
    assert [m["Body"] for m in receive(sqs, elsewhere)] == ["p1"]
    assert receive(sqs, source) == []


def test_start_message_move_task_from_a_missing_queue_is_resource_not_found(sqs, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.start_message_move_task(SourceArn=f"arn:aws:sqs:us-east-1:000000000000:{queue_name()}")
    code, _, status = error_of(e)
    assert (code, status) == ("ResourceNotFoundException", 404), e.value


def test_a_dead_letter_queue_in_use_cannot_be_deleted(sqs, make_queue):
    # A difference from AWS (which lets it go): psqlqueue refuses while a source names it.
    _, dlq = make_queue("-dlq")
    make_queue(RedrivePolicy=json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 2}))
    with pytest.raises(ClientError) as e:
        sqs.delete_queue(QueueUrl=dlq)
    code, _, status = error_of(e)
    assert (code, status) == ("InvalidParameterValue", 400), e.value
    assert arn_of(sqs, dlq)
