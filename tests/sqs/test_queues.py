"""Queues over SQS: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, PurgeQueue,
GetQueueAttributes and SetQueueAttributes."""

import time

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import ACCOUNT, REGION, assert_sqs_error, receive

COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def attributes(sqs, url, *names):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"])["Attributes"]


def test_create_queue_answers_an_sqs_shaped_url_that_get_queue_url_repeats(sqs, endpoint, make_queue):
    name, url = make_queue()
    assert url == f"{endpoint}/{ACCOUNT}/{name}"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url


def test_create_queue_takes_attributes_and_get_queue_attributes_all_shows_them(sqs, make_queue):
    before = time.time()
    name, url = make_queue(VisibilityTimeout=45, MessageRetentionPeriod=3600, DelaySeconds=2)
    got = attributes(sqs, url)
    assert got["VisibilityTimeout"] == "45"
    assert got["MessageRetentionPeriod"] == "3600"
    assert got["DelaySeconds"] == "2"
    assert got["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    # Seconds since the epoch, as SQS gives it (the database's clock: allow some skew).
    assert before - 60 <= int(got["CreatedTimestamp"]) <= time.time() + 60
    for count in COUNTS:
        assert got[count] == "0", count


def test_a_queue_created_without_attributes_has_sqs_defaults(sqs, make_queue):
    _, url = make_queue()
    got = attributes(sqs, url, "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
    assert got == {"VisibilityTimeout": "30", "MessageRetentionPeriod": "345600", "DelaySeconds": "0"}


def test_get_queue_attributes_answers_only_the_names_asked(sqs, make_queue):
    _, url = make_queue(VisibilityTimeout=12)
    assert attributes(sqs, url, "VisibilityTimeout") == {"VisibilityTimeout": "12"}


def test_create_queue_again_with_the_same_attributes_answers_the_same_url(sqs, make_queue):
    name, url = make_queue(VisibilityTimeout=20)
    again = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "20"})
    assert again["QueueUrl"] == url


def test_create_queue_again_with_other_attributes_is_queue_already_exists(sqs, make_queue):
    name, _ = make_queue(VisibilityTimeout=20)
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "21"})
    assert_sqs_error(e, "QueueNameExists", "QueueAlreadyExists")
    assert isinstance(e.value, sqs.exceptions.QueueNameExists)


def test_create_queue_refuses_a_bad_name(sqs):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName="no spaces or ! allowed")
    assert_sqs_error(e, "InvalidParameterValue")


def test_create_queue_refuses_an_out_of_range_attribute(sqs, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=queue_name(), Attributes={"VisibilityTimeout": "43201"})
    assert_sqs_error(e, "InvalidAttributeValue")


def test_create_queue_refuses_an_unknown_attribute(sqs, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=queue_name(), Attributes={"NoSuchAttribute": "1"})
    assert_sqs_error(e, "InvalidAttributeName")


def test_get_queue_url_of_a_missing_queue_is_queue_does_not_exist(sqs, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName=queue_name())
    # What boto3 users see against AWS: the legacy code in Error.Code, the modeled exception.
    assert e.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert_sqs_error(e, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
    assert isinstance(e.value, sqs.exceptions.QueueDoesNotExist)


def test_a_queue_url_is_read_by_its_last_path_segment_whatever_its_host(sqs, make_queue):
    name, _ = make_queue(VisibilityTimeout=13)
    foreign = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
    assert attributes(sqs, foreign, "VisibilityTimeout") == {"VisibilityTimeout": "13"}


def test_list_queues_filters_by_prefix(sqs, make_queue, queue_name):
    prefix = queue_name.prefix + "listed-"
    urls = {make_queue(name=f"{prefix}{i}")[1] for i in range(3)}
    _, other = make_queue(name=queue_name.prefix + "other")
    assert set(sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == urls
    assert set(sqs.list_queues(QueueNamePrefix=queue_name.prefix)["QueueUrls"]) == urls | {other}
    assert sqs.list_queues(QueueNamePrefix=f"{prefix}1")["QueueUrls"] == [other.rsplit("/", 1)[0] + f"/{prefix}1"]
    assert sqs.list_queues(QueueNamePrefix=prefix + "nothing").get("QueueUrls", []) == []
    # Without a prefix: every queue, ours among them.
    assert urls | {other} <= set(sqs.list_queues().get("QueueUrls", []))


def test_list_queues_pages_with_max_results_and_next_token(sqs, make_queue, queue_name):
    urls = [make_queue(name=f"{queue_name.prefix}page-{i}")[1] for i in range(5)]
    seen, pages, token = [], 0, None
    while True:
        kwargs = {"QueueNamePrefix": queue_name.prefix, "MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        page = sqs.list_queues(**kwargs)
        pages += 1
        assert len(page.get("QueueUrls", [])) <= 2
        seen += page.get("QueueUrls", [])
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 10, "NextToken never ends"
    assert sorted(seen) == sorted(urls), "every queue once"
    assert pages in (3, 4)


def test_delete_queue_removes_it(sqs, make_queue):
    name, url = make_queue()
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName=name)
    assert_sqs_error(e, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="to nowhere")
    assert_sqs_error(e, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
    with pytest.raises(ClientError) as e:
        sqs.delete_queue(QueueUrl=url)
    assert_sqs_error(e, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")


def test_purge_queue_removes_every_message_visible_or_not(sqs, make_queue):
    _, url = make_queue()
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
    assert len(receive(sqs, url, 1, VisibilityTimeout=60)) == 1
    sqs.purge_queue(QueueUrl=url)
    assert receive(sqs, url) == []
    got = attributes(sqs, url, *COUNTS)
    assert got == {count: "0" for count in COUNTS}


def test_purge_queue_of_a_missing_queue_is_queue_does_not_exist(sqs, endpoint, queue_name):
    with pytest.raises(ClientError) as e:
        sqs.purge_queue(QueueUrl=f"{endpoint}/{ACCOUNT}/{queue_name()}")
    assert_sqs_error(e, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")


def test_set_queue_attributes_changes_them(sqs, make_queue):
    _, url = make_queue(VisibilityTimeout=30)
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={"VisibilityTimeout": "10", "DelaySeconds": "1", "MessageRetentionPeriod": "600"},
    )
    got = attributes(sqs, url, "VisibilityTimeout", "DelaySeconds", "MessageRetentionPeriod")
    assert got == {"VisibilityTimeout": "10", "DelaySeconds": "1", "MessageRetentionPeriod": "600"}
    # An attribute left out keeps its value.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    assert attributes(sqs, url, "VisibilityTimeout", "DelaySeconds") == {
        "VisibilityTimeout": "10",
        "DelaySeconds": "0",
    }


def test_set_queue_attributes_refuses_an_out_of_range_value(sqs, make_queue):
    _, url = make_queue()
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "-1"})
    assert_sqs_error(e, "InvalidAttributeValue")
    assert attributes(sqs, url, "DelaySeconds") == {"DelaySeconds": "0"}


def test_counts_tell_visible_in_flight_and_delayed_messages(sqs, make_queue):
    _, url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="visible")
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
    assert len(receive(sqs, url, 1, VisibilityTimeout=60)) == 1
    assert attributes(sqs, url, *COUNTS) == {
        "ApproximateNumberOfMessages": "1",
        "ApproximateNumberOfMessagesNotVisible": "1",
        "ApproximateNumberOfMessagesDelayed": "1",
    }
