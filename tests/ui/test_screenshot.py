"""Last, after the traffic thread has run for a while: the screenshot of the README
(docs/ui.png), the dashboard with its throughput chart, dead letters peeked and topics."""

import shutil

from ui_helpers import DOCS_PNG, wait_until


def test_the_readme_screenshot(browser):
    browser.open()
    # A few points of throughput history, so the chart has a line to show.
    wait_until("throughput history", lambda: len(browser.finds("#throughput-chart polyline")) == 2
               and browser.js("return window.psqlqueueStats.overview.throughput.sends.filter(v => v != null).length") >= 4,
               timeout=60)
    browser.click('[data-peek="payments-dlq"]')
    wait_until("the peeked messages", lambda: len(browser.finds('[data-dlq="payments-dlq"] .msg')) == 2)
    path = browser.screenshot("dashboard", width=1280)
    shutil.copyfile(path, DOCS_PNG)
