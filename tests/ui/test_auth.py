"""The dashboard with PSQLQUEUE_AUTH=token: without a token it asks for one, a refused token is
said to be refused, a scoped token sees only its queues and none of the controls its scopes may
not use, and an admin token sees and may do everything. The token stays in sessionStorage."""

from ui_helpers import ADMIN_TOKEN, TOKEN_URL, token, wait_until


def sign_in(browser, value):
    field = browser.find("#token")
    field.clear()
    field.send_keys(value)
    browser.click("#login-form button")


def queue_ids(browser):
    return [row.get_attribute("data-id") for row in browser.finds("#queue-rows tr")]


def test_without_a_token_the_page_asks_for_one(browser):
    browser.open(TOKEN_URL, ready=False)
    wait_until("the sign-in form", lambda: browser.visible("#login"))
    assert not browser.visible("#dashboard")
    assert not browser.finds("#queue-rows tr")
    sign_in(browser, "pqq_" + "0" * 64)
    message = wait_until("the refusal", lambda: browser.visible("#login-error") and browser.text("#login-error"))
    assert "refused" in message, message
    browser.screenshot("sign-in", full_page=False)


def test_a_scoped_token_hides_what_it_may_not_do(browser):
    narrow = token("ui-narrow", "send:orders", "consume:payments-dlq")
    browser.open(TOKEN_URL, ready=False)
    wait_until("the sign-in form", lambda: browser.visible("#login"))
    sign_in(browser, narrow)
    wait_until("the first render", lambda: browser.js("return document.body.dataset.ready === '1'"))
    assert queue_ids(browser) == ["orders", "payments-dlq"]
    assert "sees only" in browser.text("#notice")
    # No control its scopes cannot use: no create, no purge, no redrive, no throughput (that is
    # database-wide, for tokens that see everything); peek where it may consume.
    assert not browser.visible("#new-queue")
    assert not browser.finds("[data-purge]")
    assert not browser.finds("[data-redrive]")
    assert not browser.visible("#throughput-section")
    assert not browser.finds('[data-peek="orders"]')
    browser.click('[data-open="orders"]')
    wait_until("the queue's chart", lambda: browser.finds("#detail-chart svg"))
    assert not browser.finds("#detail [data-purge]")
    browser.click("#detail [data-close]")
    browser.click('[data-peek="payments-dlq"]')
    wait_until("the peeked messages", lambda: len(browser.finds('[data-dlq="payments-dlq"] .msg')) == 2)
    # Subscriptions need manage:* to list; the topics it may not read are not shown at all.
    assert not browser.finds("[data-topic]")
    # Kept for this tab only.
    stored = browser.js("return [sessionStorage.getItem('psqlqueue.token'), localStorage.length]")
    assert stored == [narrow, 0], stored
    browser.screenshot("scoped-token")

    # Signing out forgets it; an admin token sees and may do everything.
    browser.click("#signout")
    wait_until("the sign-in form", lambda: browser.visible("#login"))
    assert browser.js("return sessionStorage.getItem('psqlqueue.token')") is None
    sign_in(browser, ADMIN_TOKEN)
    wait_until("every queue", lambda: len(queue_ids(browser)) >= 8)
    assert browser.visible("#new-queue")
    assert browser.finds('[data-redrive="payments-dlq"]')
    browser.click('[data-open="orders"]')
    wait_until("the purge button", lambda: browser.visible('#detail [data-purge="orders"]'))
    browser.click("#detail [data-close]")
    assert browser.visible("#throughput-section")
    assert not browser.visible("#notice")
    assert browser.finds('[data-topic="events"]')
