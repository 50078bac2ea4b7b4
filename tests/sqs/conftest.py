"""Fixtures for the SQS suite: clients of the two sidecars and queues that go away after each
test. Queue names carry this run's id, so runs and tests never see each other's queues."""

import re
import secrets

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import client, env

RUN_ID = secrets.token_hex(3)


@pytest.fixture(scope="session")
def sqs():
    """boto3 against the auth-none sidecar, with made-up credentials."""
    return client()


@pytest.fixture(scope="session")
def endpoint():
    return env("SQS_ENDPOINT")


@pytest.fixture
def queue_name(request):
    """queue_name(suffix="") is a fresh queue name for this test, starting with
    queue_name.prefix (the test's name and this run's id)."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name.removeprefix("test_"))[:40].strip("-")
    counter = iter(range(1000))

    def make(suffix=""):
        return f"{make.prefix}{next(counter)}{suffix}"

    make.prefix = f"{base}-{RUN_ID}-"
    return make


@pytest.fixture
def make_queue(sqs, queue_name):
    """make_queue(suffix="", name=None, **attributes) creates a queue (named queue_name(suffix)
    unless named; attributes given as Python values, sent as SQS's strings) and returns
    (name, url); every queue it made is deleted afterwards, newest first (a dead-letter queue
    outlives its sources)."""
    urls = []

    def make(suffix="", name=None, **attributes):
        name = name or queue_name(suffix)
        kwargs = {"QueueName": name}
        if attributes:
            kwargs["Attributes"] = {
                k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in attributes.items()
            }
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        urls.append(url)
        return name, url

    yield make
    for url in reversed(urls):
        try:
            sqs.delete_queue(QueueUrl=url)
        except ClientError:
            pass
