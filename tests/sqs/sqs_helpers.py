"""Helpers shared by the SQS tests: clients, SQS's MD5 digests, error codes, REST and SQL access.

Everything about the servers under test comes from environment variables that tests/sqs/run.sh
sets: SQS_ENDPOINT (auth none), SQS_AUTH_ENDPOINT (auth token) with SQS_TOKEN,
SQS_ACCESS_KEY_ID and SQS_SECRET_ACCESS_KEY, SQS_DATABASE_URL and SQS_PSQL, SQS_AWS_CLI.
"""

import hashlib
import json
import os
import struct
import subprocess
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
REGION = "us-east-1"
# Credentials for the auth-none sidecar: any are accepted, so these are made up.
DUMMY_KEY = "AKIAIOSFODNN7EXAMPLE"
DUMMY_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the suite with tests/sqs/run.sh", returncode=4)
    return value


def client(endpoint=None, key=DUMMY_KEY, secret=DUMMY_SECRET, **config):
    """A boto3 SQS client for a sidecar: one attempt per call (no retries hide an error), short
    connect timeout, a read timeout above the longest long poll."""
    return boto3.client(
        "sqs",
        endpoint_url=endpoint or env("SQS_ENDPOINT"),
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=40,
            **config,
        ),
    )


# --- SQS's digests ----------------------------------------------------------------------------


def md5_of_body(body):
    """MD5OfMessageBody: the hex MD5 of the body's UTF-8 bytes."""
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def md5_of_attributes(attributes):
    """MD5OfMessageAttributes as the SQS Developer Guide describes it ("Calculating the MD5
    message digest for message attributes"): for each attribute in order of name, the name, the
    data type, one transport byte (1 for String and Number, 2 for Binary) and the value, names,
    types and values each preceded by their length as a 4-byte big-endian integer; the MD5 of
    all that. None for no attributes (SQS then leaves the field out)."""
    if not attributes:
        return None

    def prefixed(data):
        return struct.pack(">I", len(data)) + data

    buf = bytearray()
    for name in sorted(attributes):
        attribute = attributes[name]
        buf += prefixed(name.encode("utf-8"))
        buf += prefixed(attribute["DataType"].encode("utf-8"))
        if "StringValue" in attribute:
            buf += b"\x01" + prefixed(attribute["StringValue"].encode("utf-8"))
        else:
            buf += b"\x02" + prefixed(bytes(attribute["BinaryValue"]))
    return hashlib.md5(bytes(buf)).hexdigest()


# --- Errors -----------------------------------------------------------------------------------


def error_of(excinfo_or_error):
    """(code, query_code, HTTP status) of a ClientError. With the x-amzn-query-error header SQS
    sends, boto3's Code is the legacy code (AWS.SimpleQueueService.NonExistentQueue) and
    QueryErrorCode the JSON error's name (QueueDoesNotExist); without it Code is the name."""
    error = getattr(excinfo_or_error, "value", excinfo_or_error)
    assert isinstance(error, ClientError), f"not a ClientError: {error!r}"
    body = error.response.get("Error", {})
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return body.get("Code"), body.get("QueryErrorCode"), status


def assert_sqs_error(excinfo, name, legacy_code=None, status=400):
    """The error is SQS's `name` (its __type, e.g. QueueDoesNotExist) with SQS's legacy code (what
    boto3 users see in Error.Code: e.g. AWS.SimpleQueueService.NonExistentQueue; the name itself
    when SQS uses no other) and HTTP status."""
    code, query_code, got_status = error_of(excinfo)
    legacy_code = legacy_code or name
    assert (code, query_code or code, got_status) == (legacy_code, name, status), (
        f"expected {name} (Code {legacy_code}, HTTP {status}), got Code {code!r}, "
        f"QueryErrorCode {query_code!r}, HTTP {got_status}: {excinfo.value}"
    )


# --- REST v1 and SQL --------------------------------------------------------------------------


def rest(method, path, body=None, endpoint=None, token=None):
    """One REST v1 call: (status, parsed JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        (endpoint or env("SQS_ENDPOINT")) + path, data=data, method=method
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def sql_json(query, **params):
    """Runs one query with psql against the test database and returns its single value parsed as
    JSON. Parameters are psql variables, quoted by psql (:'name' in the query)."""
    args = [env("SQS_PSQL"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", env("SQS_DATABASE_URL")]
    for name, value in params.items():
        args += ["-v", f"{name}={value}"]
    result = subprocess.run(
        args, input=query, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"psql failed: {result.stderr}"
    out = result.stdout.strip()
    return json.loads(out) if out else None


def receive(sqs, url, count=10, **kwargs):
    """ReceiveMessage; the list of messages (empty when none)."""
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, **kwargs).get("Messages", [])


def drain(sqs, url, expected, **kwargs):
    """Receives (without deleting) until `expected` messages arrived or a receive comes back
    empty; a receive may return fewer than are deliverable, as SQS's may."""
    messages = []
    while len(messages) < expected:
        batch = receive(sqs, url, min(10, expected - len(messages)), **kwargs)
        if not batch:
            break
        messages += batch
    return messages
