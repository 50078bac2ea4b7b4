"""Fixtures of the dashboard's browser tests: the data every test sees (queues in each state,
dead letters, topics with filtered subscriptions), a steady stream of traffic so the throughput
chart has something to draw, a fresh headless Chromium per test, and the measures' log."""

import math
import os
import threading
import time

import pytest

from ui_helpers import SCREENSHOTS, Browser, api, ok, wait_until

QUEUE = {"ack_deadline_seconds": 30, "message_retention_seconds": 86400}


def create_queue(queue_id, **settings):
    ok("POST", "/v1/queues", dict(QUEUE, id=queue_id, **settings))


def send(queue_id, count, prefix="message", **fields):
    for i in range(count):
        ok("POST", f"/v1/queues/{queue_id}/messages", dict(fields, body=f"{prefix} {i + 1}"))


def dead_letter(queue_id, count):
    """Sends `count` messages to a queue whose dead-letter queue takes them after one lease, and
    lets that lease lapse: the next receive moves them to the dead-letter queue."""
    send(queue_id, count, prefix=f"{queue_id} order", attributes={"customer": "c-42"})
    received = ok("GET", f"/v1/queues/{queue_id}/messages?limit={count}")["data"]
    assert len(received) == count, received
    time.sleep(1.3)
    assert ok("GET", f"/v1/queues/{queue_id}/messages?limit=10")["data"] == []


def seed():
    """The main database's queues (see each test for the numbers it expects)."""
    create_queue("orders-dlq")
    create_queue("orders", ack_deadline_seconds=1, max_delivery_attempts=1, dead_letter_queue_id="orders-dlq")
    create_queue("payments-dlq")
    create_queue("payments", ack_deadline_seconds=1, max_delivery_attempts=1, dead_letter_queue_id="payments-dlq")
    create_queue("emails", ack_deadline_seconds=300)
    create_queue("reports", delivery_delay_seconds=600)
    create_queue("audit-log")
    create_queue("traffic")
    dead_letter("orders", 3)
    dead_letter("payments", 2)
    send("orders", 4)
    send("emails", 6)
    ok("GET", "/v1/queues/emails/messages?limit=2")  # two in flight for 300 s
    send("reports", 2)  # delayed for 600 s
    ok("POST", "/v1/topics", {"id": "events"})
    ok("POST", "/v1/topics", {"id": "billing-events"})
    ok("POST", "/v1/subscriptions", {"id": "events-orders", "topic_id": "events", "queue_id": "orders",
                                     "message_filters": {"type": ["order"]}})
    ok("POST", "/v1/subscriptions", {"id": "events-emails", "topic_id": "events", "queue_id": "emails",
                                     "message_filters": {"kind": [{"prefix": "welcome"}]}})
    ok("POST", "/v1/subscriptions", {"id": "events-audit", "topic_id": "events", "queue_id": "audit-log"})
    ok("POST", "/v1/subscriptions", {"id": "billing-payments", "topic_id": "billing-events", "queue_id": "payments"})
    ok("POST", "/v1/topics/events/messages", {"body": "order placed", "attributes": {"type": "order"}})


class Traffic(threading.Thread):
    """Sends and acks on the `traffic` queue at a rate that rises and falls, until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopped = threading.Event()

    def run(self):
        started = time.monotonic()
        while not self.stopped.wait(0.25):
            phase = (time.monotonic() - started) / 20.0
            count = 3 + int(6 * (1 + math.sin(phase)))
            api("POST", "/v1/queues/traffic/messages/batch",
                {"messages": [{"body": f"tick {i}"} for i in range(count)]})
            status, got = api("GET", "/v1/queues/traffic/messages?limit=10")
            if status == 200 and got["data"]:
                entries = [{"id": m["id"], "receipt": m["receipt"]} for m in got["data"]]
                api("PUT", "/v1/queues/traffic/messages/ack", {"messages": entries})


@pytest.fixture(scope="session", autouse=True)
def data():
    seed()
    traffic = Traffic()
    traffic.start()
    # The sidecar samples every second: wait until it has seen the data.
    wait_until("the sampler to see the seeded queues",
               lambda: any(q["id"] == "payments-dlq" and q["dead_lettered"] == 2
                           for q in ok("GET", "/ui/api/overview")["queues"]))
    yield
    traffic.stopped.set()
    traffic.join(timeout=5)


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


MEASURES = []


@pytest.fixture(scope="session")
def measures():
    """Lines for target/ui-screenshots/measures.txt, printed at the end of the run too."""
    yield MEASURES
    if MEASURES:
        with open(os.path.join(SCREENSHOTS, "measures.txt"), "w") as f:
            f.write("\n".join(MEASURES) + "\n")
        print("\n== dashboard measures ==\n" + "\n".join(MEASURES))
