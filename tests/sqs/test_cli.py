"""The AWS CLI (v1, from PyPI) as a client: the README's example session run as written (its
commands and the outputs it shows), and a longer session with message attributes against both
sidecars (made-up credentials with auth none, an issued access key with auth token). The README's
boto3 example runs too."""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from sqs_helpers import ACCOUNT, REGION, env, md5_of_attributes, md5_of_body, receive

README = Path(__file__).resolve().parents[2] / "README.md"
README_ENDPOINT = "http://localhost:8000"
README_QUEUE = "orders"
# Output values the README shows that must come out the same (others, such as ids, handles and
# timestamps, must only be there).
STABLE = {
    "QueueUrl", "QueueArn", "Body", "MD5OfBody", "MD5OfMessageBody", "MD5OfMessageAttributes",
    "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ApproximateReceiveCount",
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
}


def cli_environment(**variables):
    """The test's environment without AWS settings (run.sh points the CLI's config files at
    nothing), plus `variables`."""
    keep = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k in keep}
    environment.update(variables)
    return environment


def run_cli(argv, environment):
    result = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else None


def aws(endpoint, key, secret, *args):
    """`aws --endpoint-url ENDPOINT sqs ARGS...` with only these credentials in its environment;
    its JSON output parsed (None when it prints nothing)."""
    environment = cli_environment(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=REGION)
    return run_cli([env("SQS_AWS_CLI"), "--endpoint-url", endpoint, "--output", "json", "sqs", *args], environment)


# --- The README's session ------------------------------------------------------------------------


def readme_section():
    text = README.read_text(encoding="utf-8")
    assert "\n## SQS compatibility" in text, "README.md has no SQS compatibility section"
    return text.split("\n## SQS compatibility", 1)[1].split("\n## ", 1)[0]


def readme_session():
    """The README's AWS CLI session: [(command line, [the output lines shown after it])]."""
    blocks = re.findall(r"```sh\n(.*?)```", readme_section(), re.S)
    block = next((b for b in blocks if "aws --endpoint-url" in b), None)
    assert block, "the README's SQS section has no `aws --endpoint-url ...` session"
    steps, lines = [], iter(block.splitlines())
    for line in lines:
        if line.startswith("#"):
            if steps:
                steps[-1][1].append(line[1:].strip())
        elif line.strip():
            while line.endswith("\\"):
                line = line[:-1] + " " + next(lines).strip()
            steps.append((line, []))
    return steps


def shown_pairs(shown):
    """The `"Key": "value"` pairs, and the keys, of the output the README shows (JSON that may be
    elided with `...`)."""
    text = " ".join(shown)
    return re.findall(r'"([A-Za-z0-9]+)":\s*"([^"]*)"', text), set(re.findall(r'"([A-Za-z0-9]+)":', text))


def output_pairs(value, found=None):
    """Every key of a JSON value with the values it has, at any depth."""
    found = {} if found is None else found
    if isinstance(value, dict):
        for key, inner in value.items():
            found.setdefault(key, []).append(inner)
            output_pairs(inner, found)
    elif isinstance(value, list):
        for inner in value:
            output_pairs(inner, found)
    return found


def test_the_readme_session_runs_as_written(sqs, endpoint, queue_name):
    name = queue_name()

    def ours(text):
        text = text.replace(README_ENDPOINT, endpoint)
        text = text.replace(f"/{ACCOUNT}/{README_QUEUE}", f"/{ACCOUNT}/{name}")
        return text.replace(f":{ACCOUNT}:{README_QUEUE}", f":{ACCOUNT}:{name}")

    environment, receipt_handle, ran = cli_environment(), None, []
    try:
        for line, shown in readme_session():
            argv = shlex.split(ours(line), comments=True)
            if argv[0] == "export":
                environment.update(dict(a.split("=", 1) for a in argv[1:]))
                continue
            assert argv[0] == "aws", f"not an aws command: {line}"
            argv[0] = env("SQS_AWS_CLI")
            for i, arg in enumerate(argv):
                if arg == README_QUEUE and argv[i - 1] == "--queue-name":
                    argv[i] = name
                elif arg.startswith("<") and arg.endswith(">"):
                    assert argv[i - 1] == "--receipt-handle" and receipt_handle, f"placeholder {arg} in {line}"
                    argv[i] = receipt_handle
            output = run_cli(argv, environment)
            ran.append(argv[argv.index("sqs") + 1])
            found = output_pairs(output)
            receipt_handle = (found.get("ReceiptHandle") or [receipt_handle])[0]
            pairs, keys = shown_pairs([ours(s) for s in shown])
            assert keys <= set(found), f"{line}: the README shows {sorted(keys - set(found))}, not answered: {output}"
            for key, value in pairs:
                if key in STABLE:
                    assert value in found[key], f"{line}: the README shows {key} {value!r}, got {found[key]}"
    finally:
        try:
            sqs.delete_queue(QueueUrl=f"{endpoint}/{ACCOUNT}/{name}")
        except Exception:
            pass
    # The session the issue asks for.
    for action in ("create-queue", "send-message", "receive-message", "delete-message", "get-queue-attributes"):
        assert action in ran, f"the README's session does not run {action}"


def test_the_readme_boto3_example_runs(endpoint, queue_name):
    blocks = re.findall(r"```python\n(.*?)```", readme_section(), re.S)
    code = next((b for b in blocks if "boto3.client" in b), None)
    assert code, "the README's SQS section has no boto3 example"
    name = queue_name()
    code = code.replace(README_ENDPOINT, endpoint).replace(f'"{README_QUEUE}"', f'"{name}"')
    scope = {}
    exec(compile(code, "README.md (SQS compatibility)", "exec"), scope)
    sqs = scope["sqs"]
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    try:
        # It sent a message, received it and deleted it: nothing is left.
        assert receive(sqs, url) == []
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    finally:
        sqs.delete_queue(QueueUrl=url)


# --- A longer session, on both sidecars --------------------------------------------------------------


@pytest.fixture(params=["auth-none", "auth-token"])
def cli(request):
    if request.param == "auth-none":
        endpoint, key, secret = env("SQS_ENDPOINT"), "test", "test"
    else:
        endpoint, key, secret = env("SQS_AUTH_ENDPOINT"), env("SQS_ACCESS_KEY_ID"), env("SQS_SECRET_ACCESS_KEY")
    return endpoint, lambda *args: aws(endpoint, key, secret, *args)


def test_a_cli_session_with_attributes(cli, queue_name):
    endpoint, run = cli
    name = queue_name("-orders")
    # aws --endpoint-url http://localhost:8000 sqs create-queue --queue-name orders --attributes VisibilityTimeout=30
    created = run("create-queue", "--queue-name", name, "--attributes", "VisibilityTimeout=30")
    url = created["QueueUrl"]
    assert url == f"{endpoint}/{ACCOUNT}/{name}"
    try:
        # aws ... sqs send-message --queue-url http://localhost:8000/000000000000/orders \
        #   --message-body 'order 1234' --message-attributes 'region={DataType=String,StringValue=eu}'
        sent = run(
            "send-message", "--queue-url", url, "--message-body", "order 1234",
            "--message-attributes", "region={DataType=String,StringValue=eu}",
        )
        attributes = {"region": {"DataType": "String", "StringValue": "eu"}}
        assert sent["MD5OfMessageBody"] == md5_of_body("order 1234")
        assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
        # aws ... sqs receive-message --queue-url ... --message-attribute-names All \
        #   --attribute-names ApproximateReceiveCount SentTimestamp --wait-time-seconds 5
        received = run(
            "receive-message", "--queue-url", url, "--message-attribute-names", "All",
            "--attribute-names", "ApproximateReceiveCount", "SentTimestamp", "--wait-time-seconds", "5",
        )
        [message] = received["Messages"]
        assert message["MessageId"] == sent["MessageId"]
        assert message["Body"] == "order 1234"
        assert message["MessageAttributes"] == attributes
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"
        # aws ... sqs get-queue-attributes --queue-url ... --attribute-names All  (one in flight)
        counts = run("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
        assert counts["ApproximateNumberOfMessages"] == "0"
        assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
        assert counts["VisibilityTimeout"] == "30"
        assert counts["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        # aws ... sqs delete-message --queue-url ... --receipt-handle <ReceiptHandle>
        assert run("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"]) is None
        counts = run("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
        assert counts["ApproximateNumberOfMessages"] == "0"
        assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"
        assert run("receive-message", "--queue-url", url) is None
    finally:
        run("delete-queue", "--queue-url", url)
