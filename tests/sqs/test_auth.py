"""Signature V4 with PSQLQUEUE_AUTH=token: a token's access key works, a wrong secret, an unknown
key, a missing signature, a revoked token and a scope too narrow are refused; with auth none any
credentials do."""

import os
import secrets
import subprocess

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from parse_token import parse as parse_token_output
from sqs_helpers import client, env, error_of, sql_json


@pytest.fixture(scope="module")
def auth_endpoint():
    return env("SQS_AUTH_ENDPOINT")


@pytest.fixture(scope="module")
def signed(auth_endpoint):
    """boto3 with the access key `psqlqueue token create --sqs` issued (scope admin)."""
    return client(auth_endpoint, env("SQS_ACCESS_KEY_ID"), env("SQS_SECRET_ACCESS_KEY"))


def new_access_key(name, *scopes):
    """A token with these scopes and its access key, made with the extension's functions."""
    sql_json("SELECT to_json(psqlqueue.create_token(:'name', :'scopes'::text[]))", name=name,
             scopes="{" + ",".join(scopes) + "}")
    row = sql_json("SELECT row_to_json(k) FROM psqlqueue.create_access_key(:'name') AS k", name=name)
    return row["access_key_id"], row["secret_access_key"]


def test_the_right_secret_works_for_every_kind_of_call(signed, queue_name):
    url = signed.create_queue(QueueName=queue_name())["QueueUrl"]
    try:
        signed.send_message(QueueUrl=url, MessageBody="signed")
        [message] = signed.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert message["Body"] == "signed"
        signed.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        assert url in signed.list_queues(QueueNamePrefix=queue_name.prefix)["QueueUrls"]
    finally:
        signed.delete_queue(QueueUrl=url)


def test_the_region_in_the_credential_scope_does_not_matter(auth_endpoint):
    import boto3
    from botocore.config import Config

    other = boto3.client(
        "sqs",
        endpoint_url=auth_endpoint,
        region_name="eu-west-3",
        aws_access_key_id=env("SQS_ACCESS_KEY_ID"),
        aws_secret_access_key=env("SQS_SECRET_ACCESS_KEY"),
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    other.list_queues()


def test_a_wrong_secret_is_signature_does_not_match(auth_endpoint):
    wrong = client(auth_endpoint, env("SQS_ACCESS_KEY_ID"), secrets.token_hex(20))
    with pytest.raises(ClientError) as e:
        wrong.list_queues()
    code, _, status = error_of(e)
    assert 400 <= status < 500
    assert (code, status) == ("SignatureDoesNotMatch", 403), e.value


def test_a_body_changed_after_signing_is_signature_does_not_match(signed, queue_name):
    url = signed.create_queue(QueueName=queue_name())["QueueUrl"]

    def tamper(request, **_):
        # Same length, other content: only the signature can tell.
        request.body = request.body.replace(b'"genuine"', b'"forged!"')

    try:
        signed.meta.events.register("before-send.sqs.SendMessage", tamper)
        with pytest.raises(ClientError) as e:
            signed.send_message(QueueUrl=url, MessageBody="genuine")
        assert error_of(e)[::2] == ("SignatureDoesNotMatch", 403), e.value
    finally:
        signed.meta.events.unregister("before-send.sqs.SendMessage", tamper)
        signed.delete_queue(QueueUrl=url)


def test_a_request_signed_20_minutes_ago_is_request_expired(auth_endpoint, monkeypatch):
    import datetime

    import botocore.auth

    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda *args, **kwargs: real(*args, **kwargs) - datetime.timedelta(minutes=20),
    )
    stale = client(auth_endpoint, env("SQS_ACCESS_KEY_ID"), env("SQS_SECRET_ACCESS_KEY"))
    with pytest.raises(ClientError) as e:
        stale.list_queues()
    assert error_of(e)[::2] == ("RequestExpired", 400), e.value


def test_an_unknown_access_key_is_invalid_client_token_id(auth_endpoint):
    unknown = client(auth_endpoint, "PQQA" + secrets.token_hex(8).upper(), secrets.token_hex(20))
    with pytest.raises(ClientError) as e:
        unknown.list_queues()
    code, _, status = error_of(e)
    assert (code, status) == ("InvalidClientTokenId", 403), e.value


def test_a_request_without_credentials_is_refused(auth_endpoint, queue_name):
    unsigned = client(auth_endpoint, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as e:
        unsigned.create_queue(QueueName=queue_name())
    code, _, status = error_of(e)
    assert status in (400, 403), e.value
    assert code in {"MissingAuthenticationToken", "MissingAuthenticationTokenException", "MissingClientTokenId",
                    "IncompleteSignature", "InvalidClientTokenId", "AccessDenied"}, e.value


def test_a_bearer_token_is_not_an_sqs_credential(auth_endpoint):
    """The REST API's bearer token does not authenticate SQS calls by itself."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        auth_endpoint + "/",
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.ListQueues",
            "Authorization": f"Bearer {env('SQS_TOKEN')}",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code in (400, 403)


def psqlqueue_token(*args):
    """`psqlqueue token ARGS...` against the test database; its parsed output."""
    result = subprocess.run(
        [env("SQS_PSQLQUEUE"), "token", *args],
        env={**os.environ, "PSQLQUEUE_DATABASE_URL": env("SQS_DATABASE_URL")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return parse_token_output(result.stdout)


def test_token_access_key_issues_a_new_key_that_replaces_the_old(auth_endpoint, queue_name):
    name = queue_name("-token")
    created = psqlqueue_token("create", "--name", name, "--scope", "manage:*", "--sqs")
    assert created["SQS_TOKEN"].startswith("pqq_")
    old = client(auth_endpoint, created["SQS_ACCESS_KEY_ID"], created["SQS_SECRET_ACCESS_KEY"])
    old.list_queues()
    issued = psqlqueue_token("access-key", name)
    assert "SQS_TOKEN" not in issued
    assert issued["SQS_ACCESS_KEY_ID"] != created["SQS_ACCESS_KEY_ID"]
    client(auth_endpoint, issued["SQS_ACCESS_KEY_ID"], issued["SQS_SECRET_ACCESS_KEY"]).list_queues()
    with pytest.raises(ClientError) as e:
        old.list_queues()
    assert error_of(e)[::2] == ("InvalidClientTokenId", 403), e.value


def test_a_revoked_tokens_access_key_is_refused(auth_endpoint, queue_name):
    name = queue_name("-token")
    key, secret = new_access_key(name, "admin")
    revocable = client(auth_endpoint, key, secret)
    revocable.list_queues()
    sql_json("SELECT to_json(psqlqueue.revoke_token(:'name'))", name=name)
    # run.sh starts the sidecar with PSQLQUEUE_AUTH_CACHE_SECONDS=0: refused at once.
    with pytest.raises(ClientError) as e:
        revocable.list_queues()
    code, _, status = error_of(e)
    assert (code, status) == ("InvalidClientTokenId", 403), e.value


def test_an_access_key_has_its_tokens_scopes(auth_endpoint, signed, queue_name):
    allowed = signed.create_queue(QueueName=queue_name("-allowed"))["QueueUrl"]
    other = signed.create_queue(QueueName=queue_name("-other"))["QueueUrl"]
    try:
        key, secret = new_access_key(queue_name("-token"), "send:" + allowed.rsplit("/", 1)[1])
        sender = client(auth_endpoint, key, secret)
        sender.send_message(QueueUrl=allowed, MessageBody="allowed")
        for call in (
            lambda: sender.send_message(QueueUrl=other, MessageBody="not allowed"),
            lambda: sender.receive_message(QueueUrl=allowed),
            lambda: sender.delete_queue(QueueUrl=allowed),
        ):
            with pytest.raises(ClientError) as e:
                call()
            code, _, status = error_of(e)
            assert status == 403 and code in ("AccessDenied", "AccessDeniedException"), e.value
    finally:
        signed.delete_queue(QueueUrl=allowed)
        signed.delete_queue(QueueUrl=other)


def test_with_auth_none_any_credentials_or_none_are_accepted(endpoint):
    client(endpoint, "AKID" + secrets.token_hex(8).upper(), secrets.token_hex(20)).list_queues()
    client(endpoint, signature_version=UNSIGNED).list_queues()
