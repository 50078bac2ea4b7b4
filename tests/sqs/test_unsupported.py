"""Actions psqlqueue does not support answer SQS's UnsupportedOperation; ListQueueTags answers
no tags; an action SQS does not have, or a request without X-Amz-Target, is refused."""

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import ACCOUNT, assert_sqs_error, env

UNSUPPORTED = {
    "tag_queue": lambda url: {"QueueUrl": url, "Tags": {"team": "a"}},
    "untag_queue": lambda url: {"QueueUrl": url, "TagKeys": ["team"]},
    "add_permission": lambda url: {
        "QueueUrl": url,
        "Label": "l",
        "AWSAccountIds": [ACCOUNT],
        "Actions": ["SendMessage"],
    },
    "remove_permission": lambda url: {"QueueUrl": url, "Label": "l"},
    "cancel_message_move_task": lambda url: {"TaskHandle": "x"},
    "list_message_move_tasks": lambda url: {"SourceArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"},
}


@pytest.mark.parametrize("action", sorted(UNSUPPORTED))
def test_unsupported_actions_answer_unsupported_operation(sqs, make_queue, action):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        getattr(sqs, action)(**UNSUPPORTED[action](url))
    assert_sqs_error(e, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation")


def test_create_queue_with_tags_is_unsupported(sqs, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=queue_name(), tags={"team": "a"})
    assert_sqs_error(e, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation")


def test_list_queue_tags_answers_none(sqs, make_queue):
    _, url = make_queue()
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


def raw(target, body=b"{}"):
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target:
        headers["X-Amz-Target"] = target
    request = urllib.request.Request(env("SQS_ENDPOINT") + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_an_action_sqs_does_not_have_is_refused_in_sqs_shape():
    status, headers, body = raw("AmazonSQS.LaunchRockets")
    assert status == 400
    assert body["__type"].endswith("UnknownOperationException"), body
    assert body["message"]
    assert headers.get("Content-Type", headers.get("content-type")) == "application/x-amz-json-1.0"


def test_a_request_without_x_amz_target_is_refused_in_sqs_shape():
    status, _, body = raw(None)
    assert status == 400 and "__type" in body, body


def test_a_body_that_is_not_json_is_a_serialization_exception():
    status, _, body = raw("AmazonSQS.ListQueues", b"{not json")
    assert status == 400 and body["__type"].endswith("SerializationException"), body


def test_errors_carry_the_query_compatibility_header(sqs):
    status, headers, body = raw("AmazonSQS.GetQueueUrl", json.dumps({"QueueName": "no-such-queue-at-all"}).encode())
    assert status == 400
    assert body == {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": body["message"]}
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
