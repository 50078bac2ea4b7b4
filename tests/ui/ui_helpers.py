"""What the dashboard's browser tests share: the sidecars' addresses (from tests/ui/run.sh), the
REST API and SQL as a test checks them, headless Chromium and waiting on the page."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

URL = os.environ["UI_URL"]
TOKEN_URL = os.environ["UI_TOKEN_URL"]
BIG_URL = os.environ["UI_BIG_URL"]
ADMIN_TOKEN = os.environ["UI_ADMIN_TOKEN"]
DATABASE_URL = os.environ["UI_DATABASE_URL"]
SCREENSHOTS = os.environ["UI_SCREENSHOTS"]
DOCS_PNG = os.environ["UI_DOCS_PNG"]

# Without the networking flags Chromium reaches for Google's services at start, which this
# closed network answers by hanging; a fresh profile per browser keeps runs independent.
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
]


def api(method, path, body=None, token=None, base=URL):
    """Calls the REST API; returns (status, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, (json.loads(text) if text else None)


def ok(method, path, body=None, token=None, base=URL):
    """Calls the REST API and fails unless it answers 2xx; returns the JSON."""
    status, answer = api(method, path, body, token, base)
    assert 200 <= status < 300, f"{method} {path}: {status} {answer}"
    return answer


def sql(query):
    """Runs one query on the test database with psql; returns its rows as lists of text."""
    out = subprocess.run(
        [os.environ["UI_PSQL"], "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query, DATABASE_URL],
        check=True, capture_output=True, text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def queue_metrics():
    """psqlqueue.queue_metrics() by queue: deliverable, in flight, delayed, oldest age, dead-lettered."""
    return {row[0]: [int(v) for v in row[1:]] for row in sql("SELECT * FROM psqlqueue.queue_metrics()")}


def token(name, *scopes):
    """Creates an API token with these scopes (as a user would, `psqlqueue token create`)."""
    args = [os.environ["UI_PSQLQUEUE"], "token", "create", "--name", name]
    for scope in scopes:
        args += ["--scope", scope]
    env = dict(os.environ, PSQLQUEUE_DATABASE_URL=DATABASE_URL, PSQLQUEUE_LOG_LEVEL="warn")
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout.strip()


def wait_until(what, probe, timeout=20.0, interval=0.2):
    """Polls `probe` until it returns something truthy, which it returns; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as error:  # a stale element while the page redraws: try again
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class Browser:
    """One headless Chromium with a profile of its own, removed on close."""

    def __init__(self, width=1280, height=900):
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=os.environ["UI_SCRATCH"])
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ["UI_CHROMIUM"]
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]:
            options.add_argument(flag)
        # The console, to find script errors and refused content (Content-Security-Policy).
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=os.environ["UI_CHROMEDRIVER"])
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(30)

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, base=URL, ready=True):
        """Loads the dashboard; with `ready`, waits until it has drawn its first overview."""
        self.driver.get(base + "/ui")
        if ready:
            wait_until("the first render", lambda: self.js("return document.body.dataset.ready === '1'"))

    def errors(self):
        """The console's errors since the last call (script errors, refused loads)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        """Whether an element matching `css` exists and is displayed."""
        return any(e.is_displayed() for e in self.finds(css))

    def fresh(self, act):
        """Runs `act` again when the page redrew the element under it (it redraws the tables
        with every new sample, once a second here)."""
        for _ in range(5):
            try:
                return act()
            except StaleElementReferenceException:
                time.sleep(0.05)
        return act()

    def click(self, css):
        self.fresh(lambda: self.find(css).click())

    def text(self, css):
        return self.fresh(lambda: self.find(css).text)

    def cell(self, queue, key):
        """The text the queue table shows for `queue` in column `key` (e.g. deliverable)."""
        return self.text(f'tr[data-id="{queue}"] td[data-k="{key}"]').strip()

    def number(self, queue, key):
        return int(self.cell(queue, key).replace(",", ""))

    def confirm(self, yes=True):
        """Answers the open confirmation dialog."""
        wait_until("the confirmation dialog", lambda: self.js("return document.getElementById('confirm').open"))
        self.click("#confirm-ok" if yes else "#confirm-cancel")
        wait_until("the dialog to close", lambda: not self.js("return document.getElementById('confirm').open"))

    def toast(self):
        return wait_until("a message", lambda: self.visible("#toast") and self.text("#toast"))

    @staticmethod
    def screenshot_path(name):
        """Where screenshot `name` goes: target/ui-screenshots/NAME.png."""
        os.makedirs(SCREENSHOTS, exist_ok=True)
        return os.path.join(SCREENSHOTS, name + ".png")

    def screenshot(self, name, full_page=True, width=None):
        """Saves a PNG of the page (its whole height with `full_page`) to target/ui-screenshots."""
        path = self.screenshot_path(name)
        if full_page:
            size = self.driver.get_window_size()
            self.js("window.scrollTo(0, 0)")
            # The window's own frame, if any, on top of the page's height.
            frame = self.js("return window.outerHeight - window.innerHeight")
            height = self.js("return document.documentElement.scrollHeight") + frame
            self.driver.set_window_size(width or size["width"], min(max(height, 600), 4000))
            time.sleep(0.3)
            self.driver.save_screenshot(path)
            self.driver.set_window_size(size["width"], size["height"])
        else:
            self.driver.save_screenshot(path)
        return path
