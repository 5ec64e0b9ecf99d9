"""Browser fixtures for the pages the lab writes: Debian's Chromium, headless, driven by Playwright,
with the network cut off.

`offline_browser.visit(url, wait_for=None, timeout_s=30)` opens `url` in a fresh browser
context and returns a `Visit`: the Playwright page (open until the test ends), every URL it
requested, the ones that would have left the machine, and its console errors.
`offline_browser.screenshot(visit, path)` keeps a full-page PNG.

Every request to a host other than 127.0.0.1/localhost is aborted as it is made, so a page that
still needs a CDN shows it broken here, as it would on a machine with no internet -- and the
request is listed in `visit.external` for the test to assert on. The browser is the system's
(/usr/bin/chromium, installed by .ci/run from Debian's packages), never one Playwright downloads;
without it the browser tests skip, saying so.

`serve_directory(path) -> base URL` serves a folder over HTTP on 127.0.0.1 at an ephemeral port
until the test ends: asv's pages load their data as JSON, which Chromium refuses over file://.
"""

from __future__ import annotations

import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing Chromium would fetch on its own behalf (updates, sync, field trials, QUIC
# probes): the only requests made are the page's, and those are routed below.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}


def is_external(url: str) -> bool:
    """Whether fetching `url` would leave the machine."""
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname not in LOCAL_HOSTS


@dataclass
class Visit:
    """One page opened by `offline_browser.visit`."""

    page: object  # playwright.sync_api.Page, open until the test ends
    requests: list[str] = field(default_factory=list)  # every URL requested, in order
    external: list[str] = field(default_factory=list)  # the requests that would have left the machine (aborted)
    console_errors: list[str] = field(default_factory=list)  # console.error messages and uncaught exceptions


class OfflineBrowser:
    def __init__(self, browser):
        self._browser = browser
        self._contexts = []

    def visit(self, url: str, wait_for: str | None = None, timeout_s: float = 30) -> Visit:
        """Open `url` in a fresh context (no cache, no service workers) and wait for its load
        event, then for the CSS selector `wait_for` to be visible, if given."""
        context = self._browser.new_context(service_workers="block")
        self._contexts.append(context)
        visit = Visit(page=context.new_page())

        def on_request(request) -> None:
            visit.requests.append(request.url)
            if is_external(request.url):
                visit.external.append(request.url)

        def on_console(message) -> None:
            if message.type == "error":
                where = message.location.get("url")  # for a failed load: the resource's URL
                visit.console_errors.append(f"{message.text} [{where}]" if where else message.text)

        def route(route) -> None:
            if is_external(route.request.url):
                route.abort("internetdisconnected")
            else:
                route.continue_()

        context.route("**/*", route)
        visit.page.on("request", on_request)
        visit.page.on("console", on_console)
        visit.page.on("pageerror", lambda error: visit.console_errors.append(f"uncaught: {error}"))
        visit.page.goto(url, wait_until="load", timeout=timeout_s * 1000)
        if wait_for is not None:
            visit.page.wait_for_selector(wait_for, state="visible", timeout=timeout_s * 1000)
        return visit

    def screenshot(self, visit: Visit, path) -> Path:
        """A full-page PNG of the visit's page as it is now, at `path` (folders made)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()


@pytest.fixture(scope="package")
def _chromium():
    """Chromium launched once for the tests in this folder (a launch takes a second or two)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests use Debian's Chromium "
                    "(apt-get install -y chromium, as .ci/run does); Playwright's own download is never used")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def offline_browser(_chromium):
    """An OfflineBrowser whose pages close when the test ends."""
    browser = OfflineBrowser(_chromium)
    yield browser
    browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # the test asserts on what the browser saw; a line per request is noise


@pytest.fixture
def serve_directory():
    """serve_directory(path) -> "http://127.0.0.1:<port>/": the folder over HTTP until the test ends."""
    servers = []

    def serve(directory) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, name="pages-http", daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
