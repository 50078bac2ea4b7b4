"""The dashboard against a real sidecar (auth none): the numbers it shows are the API's, peek
shows dead letters without taking them, redrive and purge do what they say after a confirmation,
a queue can be created, a queue's chart opens, and a phone-width screen does not scroll sideways."""

import time

from ui_helpers import Browser, api, ok, queue_metrics, wait_until

COLUMNS = ["deliverable", "in_flight", "delayed", "oldest_age_seconds", "dead_lettered"]
STABLE = ["orders", "orders-dlq", "payments-dlq", "emails", "reports", "audit-log"]


def shown(browser, queue):
    """What the table shows for a queue: its counts and its oldest age in seconds."""
    counts = {key: browser.number(queue, key) for key in ["deliverable", "in_flight", "delayed", "dead_lettered"]}
    oldest = browser.cell(queue, "oldest_age_seconds")
    counts["oldest_age_seconds"] = 0 if oldest == "–" else int(oldest.split()[0])
    return counts


def matches(browser, queue):
    """Whether the table agrees with queue_metrics() and GET /v1/queues/{id}/stats."""
    metrics = dict(zip(COLUMNS, queue_metrics()[queue]))
    stats = ok("GET", f"/v1/queues/{queue}/stats")
    ui = shown(browser, queue)
    same = all(ui[k] == metrics[k] for k in ["deliverable", "in_flight", "delayed", "dead_lettered"])
    same = same and ui["deliverable"] == stats["num_undelivered_messages"]
    # Ages move on by the second; the page's is from the latest sample (taken every second).
    same = same and abs(ui["oldest_age_seconds"] - stats["oldest_unacked_message_age_seconds"]) <= 4
    return same or (ui, metrics, stats)


def test_the_numbers_shown_are_the_apis(browser, measures):
    browser.open()
    for queue in STABLE:
        result = wait_until(f"{queue}'s numbers", lambda q=queue: matches(browser, q) is True or None)
        assert result, matches(browser, queue)
    # The expected state, so a sampler that showed something else would not pass by agreeing
    # with a broken API.
    assert shown(browser, "orders-dlq")["dead_lettered"] == 3
    assert shown(browser, "emails")["in_flight"] == 2
    assert shown(browser, "reports")["delayed"] == 2
    assert browser.text("#total-queues") == str(len(ok("GET", "/v1/queues?limit=1000")["data"]))
    # Topics with their subscriptions and filters.
    events = browser.text('[data-topic="events"]')
    assert "events-orders" in events and '{"type":["order"]}' in events, events
    assert '{"kind":[{"prefix":"welcome"}]}' in events and "every message" in events, events
    # Throughput: the traffic thread sends and acks all the time.
    wait_until("a throughput figure", lambda: browser.text("#rate-sends") not in ("–", "0.0"), timeout=30)
    # The first load, as the browser counted it: the page, its files, and the first JSON.
    first = first_load(browser)
    measures.append(f"first load, main page ({len(STABLE) + 2} queues): {first['transferred']:,} bytes "
                    f"transferred ({first['decoded']:,} decoded): {first['parts']}")
    assert first["transferred"] <= 300 * 1024, first
    # Nothing failed or was refused on the way (a script error, an inline style or a foreign
    # file blocked by the page's Content-Security-Policy).
    assert browser.errors() == []
    browser.screenshot("overview")


def first_load(browser):
    """Bytes transferred for the page, its CSS, JS and icon, and the first session and overview."""
    entries = browser.js("""
        const nav = performance.getEntriesByType('navigation')[0];
        const all = [nav].concat(performance.getEntriesByType('resource'));
        return all.map(e => [e.name, e.transferSize, e.decodedBodySize]);""")
    seen, parts, transferred, decoded = set(), [], 0, 0
    for name, size, body in entries:
        path = "/" + name.split("/", 3)[3].split("?")[0]
        if path in seen:  # only the first overview: later ones are refreshes
            continue
        seen.add(path)
        parts.append(f"{path} {size}")
        transferred += size
        decoded += body
    return {"transferred": transferred, "decoded": decoded, "parts": ", ".join(parts)}


def test_peek_shows_dead_letters_and_redrive_moves_them_back(browser):
    browser.open()
    card = '[data-dlq="orders-dlq"]'
    assert "dead letters of orders" in browser.text(card)
    browser.click(f'{card} [data-peek="orders-dlq"]')
    peeked = wait_until("the peeked messages", lambda: len(browser.finds(f"{card} .msg")) == 3 and browser.text(card))
    assert "orders order 1" in peeked and "from orders" in peeked and '{"customer":"c-42"}' in peeked, peeked
    # Peeking took nothing: still three dead letters.
    assert queue_metrics()["orders-dlq"][4] == 3
    before = queue_metrics()["orders"][0]
    # Cancelled, nothing moves.
    browser.click(f'{card} [data-redrive="orders-dlq"]')
    browser.confirm(yes=False)
    time.sleep(0.5)
    assert queue_metrics()["orders-dlq"][4] == 3
    browser.click(f'{card} [data-redrive="orders-dlq"]')
    assert "back to the queues they came from" in browser.text("#confirm-text")
    browser.confirm()
    assert "Moved 3 messages" in browser.toast()
    # The API agrees: the dead-letter queue is empty and its messages are deliverable again.
    assert ok("GET", "/v1/queues/orders-dlq/stats")["num_undelivered_messages"] == 0
    assert ok("GET", "/v1/queues/orders/stats")["num_undelivered_messages"] == before + 3
    # And the page follows with the next sample.
    wait_until("the page to show the redrive", lambda: browser.number("orders-dlq", "dead_lettered") == 0
               and browser.number("orders", "deliverable") == before + 3)
    assert browser.errors() == []
    browser.screenshot("redriven")


def test_create_and_purge_ask_first(browser):
    browser.open()
    browser.click("#new-queue")
    form = browser.find("#create-form")
    form.find_element("name", "id").send_keys("invoices")
    form.find_element("name", "ack_deadline_seconds").clear()
    form.find_element("name", "ack_deadline_seconds").send_keys("45")
    browser.click("#create-submit")
    assert "ack deadline 45 s" in browser.text("#confirm-text")
    browser.confirm()
    assert "Created invoices" in browser.toast()
    status, queue = api("GET", "/v1/queues/invoices")
    assert status == 200 and queue["ack_deadline_seconds"] == 45, queue
    wait_until("the new queue's row", lambda: browser.finds('tr[data-id="invoices"]'))

    # A queue with messages: purge (in the queue's detail) asks, cancelling keeps them,
    # confirming removes them.
    for i in range(4):
        ok("POST", "/v1/queues/invoices/messages", {"body": f"invoice {i}"})
    wait_until("the messages to show", lambda: browser.number("invoices", "deliverable") == 4)
    browser.click('[data-open="invoices"]')
    purge = '#detail [data-purge="invoices"]'
    wait_until("the purge button", lambda: browser.visible(purge))
    browser.click(purge)
    browser.confirm(yes=False)
    time.sleep(0.5)
    assert ok("GET", "/v1/queues/invoices/stats")["num_undelivered_messages"] == 4
    browser.click(purge)
    assert "4 deliverable" in browser.text("#confirm-text")
    browser.confirm()
    assert "Purged invoices" in browser.toast()
    assert ok("GET", "/v1/queues/invoices/stats")["num_undelivered_messages"] == 0
    browser.click("#detail [data-close]")
    wait_until("the page to show the purge", lambda: browser.number("invoices", "deliverable") == 0)


def test_a_queue_opens_with_its_depth_chart(browser):
    browser.open()
    browser.click('[data-open="emails"]')
    wait_until("the chart", lambda: browser.finds("#detail-chart svg polyline"))
    counts = browser.text("#detail-counts")
    assert "In flight\n2" in counts, counts
    browser.screenshot("queue-detail", full_page=False)
    browser.click("#detail [data-close]")
    # The filter narrows the table.
    browser.find("#filter").send_keys("dlq")
    rows = [r.get_attribute("data-id") for r in browser.finds("#queue-rows tr")]
    assert rows == ["orders-dlq", "payments-dlq"], rows


def test_a_phone_screen_does_not_scroll_sideways():
    browser = Browser(width=390, height=844)
    try:
        metrics = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
        browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        browser.open()
        assert browser.js("return window.innerWidth") == 390
        overflow = "return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
        widths = browser.js(overflow)
        assert max(widths[:2]) <= widths[2], widths
        # The queue table became one card per queue, each number labelled.
        assert browser.find('tr[data-id="emails"] td[data-k="in_flight"]').is_displayed()
        browser.click('[data-open="emails"]')
        wait_until("the chart", lambda: browser.finds("#detail-chart svg polyline"))
        widths = browser.js(overflow)
        assert max(widths[:2]) <= widths[2], widths
        browser.click("#detail [data-close]")
        browser.js("window.scrollTo(0, 0)")
        browser.driver.save_screenshot(browser.screenshot_path("phone"))
    finally:
        browser.close()
