#!/usr/bin/env python3
"""Long polling through the sidecar: what idle long-pollers cost the database, and how soon a
sent message reaches a waiting consumer. Standard library only.

Usage: longpoll.py BASE_URL PSQL_ARGS... (PSQL_ARGS reach psql to read the database's
transaction counter). Prints one JSON line.
"""
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

base, psql = sys.argv[1], sys.argv[2:]
POLLERS, WAIT = 200, 20
SAMPLES = 100


def call(method, path, body=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def xacts():
    """Transactions committed or rolled back in the benchmark database so far."""
    out = subprocess.run(psql + ["-Atc", "SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback "
                                         "FROM pg_stat_database WHERE datname = current_database()"],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[-1])


for queue in ("idle", "wake"):
    try:
        call("POST", "/v1/queues", json.dumps({"id": queue, "ack_deadline_seconds": 30,
                                               "message_retention_seconds": 3600}))
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise

# 1. Idle: POLLERS consumers wait WAIT seconds on an empty queue. Backends report their
# transaction counts up to ~10 s after going idle, so the count waits that long on both sides;
# while they wait, the database's active statements are sampled directly.
def active_statements():
    """Statements running in the benchmark database now, other than this sampler's."""
    out = subprocess.run(psql + ["-Atc", "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND state = 'active' AND pid <> pg_backend_pid()"],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[-1])


time.sleep(12)
before = xacts()
threads = [threading.Thread(target=call, args=("GET", f"/v1/queues/idle/messages?wait_seconds={WAIT}"))
           for _ in range(POLLERS)]
started = time.monotonic()
for t in threads:
    t.start()
time.sleep(3)
samples, busy = 0, 0
while time.monotonic() - started < WAIT - 2:
    busy += active_statements()
    samples += 1
    time.sleep(0.2)
for t in threads:
    t.join()
time.sleep(12)
after = xacts()
# The counter reads and the samples are transactions too: subtracted.
idle = {"pollers": POLLERS, "wait_s": WAIT,
        "xacts_total": after - before - 1 - samples,
        "active_samples": samples, "active_statements_seen": busy,
        "elapsed_s": round(time.monotonic() - started, 1)}

# 2. Wake-up: one consumer waits; a message is sent; time from the send's start to the answer.
latencies = []
for _ in range(SAMPLES):
    got = {}

    def wait():
        got["body"] = call("GET", "/v1/queues/wake/messages?limit=1&wait_seconds=10")
        got["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.15)  # parked
    sent = time.monotonic()
    call("POST", "/v1/queues/wake/messages", json.dumps({"body": "wake"}))
    waiter.join()
    message = got["body"]["data"][0]
    call("PUT", f"/v1/queues/wake/messages/{message['id']}/ack?receipt={message['receipt']}")
    latencies.append((got["at"] - sent) * 1000)
latencies.sort()
wake = {"samples": SAMPLES, "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1), "max_ms": round(latencies[-1], 1)}
print(json.dumps({"idle": idle, "wake": wake}))
