"""Reads what `psqlqueue token create ... --sqs` (or `psqlqueue token access-key NAME`) printed
on standard input and prints shell assignments: SQS_TOKEN (create only), SQS_ACCESS_KEY_ID and
SQS_SECRET_ACCESS_KEY.

The output is (psqlqueue-http/src/tokens.rs): the token alone on the first line (create only),
then `AWS_ACCESS_KEY_ID=<id>` and `AWS_SECRET_ACCESS_KEY=<secret>`. Each value must have the
shape sql/auth.sql gives it (the token `pqq_` and 64 hex digits, the key id `PQQA` and 16
upper-case hex digits, the secret 40 hex digits); anything else is an error (exit 1), so a
changed format is noticed rather than guessed around. Also importable: parse(text) -> dict.
"""

import re
import shlex
import sys

SHAPES = {
    "SQS_TOKEN": r"pqq_[0-9a-f]{64}",
    "SQS_ACCESS_KEY_ID": r"PQQA[0-9A-F]{16}",
    "SQS_SECRET_ACCESS_KEY": r"[0-9a-f]{40}",
}


def parse(text):
    lines = text.strip().splitlines()
    values = {}
    if lines and not lines[0].startswith("AWS_"):
        values["SQS_TOKEN"] = lines.pop(0).strip()
    if len(lines) != 2:
        raise ValueError(f"expected the key's two lines, got: {text!r}")
    for line, (env_name, ours) in zip(
        lines, [("AWS_ACCESS_KEY_ID", "SQS_ACCESS_KEY_ID"), ("AWS_SECRET_ACCESS_KEY", "SQS_SECRET_ACCESS_KEY")]
    ):
        name, _, value = line.strip().partition("=")
        if name != env_name:
            raise ValueError(f"expected {env_name}=..., got {line!r}")
        values[ours] = value
    for name, value in values.items():
        if not re.fullmatch(SHAPES[name], value):
            raise ValueError(f"{name} does not look like one: {value!r}")
    return values


if __name__ == "__main__":
    try:
        parsed = parse(sys.stdin.read())
    except ValueError as e:
        sys.exit(f"parse_token.py: {e}")
    if "SQS_TOKEN" not in parsed:
        sys.exit("parse_token.py: no token on the first line")
    for name, value in parsed.items():
        print(f"{name}={shlex.quote(value)}")
