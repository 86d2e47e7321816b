"""A real browser for the dashboard's tests, shared by tests/browser (the demo on the real swarm) and tests/realkube
(a stack on the test cluster): Debian's chromium driven by Playwright for Python. Never skipped: without chromium
(`make test` installs it) these tests fail and say so. Playwright's own browser download is never used
(`playwright install` cannot run here). Registered for the whole suite in tests/conftest.py."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright

from tests.daemon import Daemon

CHROMIUM = Path("/usr/bin/chromium")
# As root in a container-like sandbox, and with no network but the registries: no sandbox, no GPU, and none of
# the background requests chromium makes on its own.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
# `make screenshots` sets this to docs/images, the documentation's pictures; otherwise they go to a temporary folder
# (a test run leaves the tree as it was).
SCREENSHOTS = Path(os.environ.get("DEVSTACK_SCREENSHOTS") or tempfile.gettempdir()) / ""
VIEWPORT = {"width": 1400, "height": 820}


class DemoProject(Protocol):
    """A copy of the demo (on swarm or on the test cluster): its free local ports and its dev secrets."""

    def port(self, variable: str) -> int: ...

    def secret(self, name: str) -> str: ...


P = TypeVar("P", bound=DemoProject)


@dataclass
class Dashboard(Generic[P]):
    """A project under `devstack up` and the dashboard address it printed."""

    project: P
    daemon: Daemon
    url: str  # with the token, as printed

    @property
    def base(self) -> str:
        return self.url.split("?", 1)[0].rstrip("/")

    @property
    def token(self) -> str:
        return self.url.split("token=", 1)[1]


def served(project: P, daemon: Daemon, timeout: float) -> Dashboard[P]:
    """The dashboard of `devstack up` once its first pass is done (its address as printed)."""
    line = daemon.wait_for(r"dashboard: http://127\.0\.0\.1:\d+/\?token=", timeout=timeout)
    daemon.wait_for(r"watching for changes", timeout=timeout)
    url = re.search(r"http://\S+", line)
    assert url is not None
    return Dashboard(project, daemon, url.group(0))


def inject(project: DemoProject, subject: str, *, sender: str = "demo@devstack.test",
           recipients: tuple[str, ...] = ("carol@example.test",), text: str = "hello") -> None:
    """A message through the demo relay's inject API, at its forwarded port."""
    payload = {"envelope_sender": sender, "recipients": [{"email": r} for r in recipients],
               "content": {"subject": subject, "text_body": text, "from": {"email": sender}}}
    response = httpx.post(f"http://127.0.0.1:{project.port('RELAY_PORT')}/api/inject/v1", json=payload,
                          auth=("demo", project.secret("inject-password")), timeout=60)
    assert response.status_code == 200, response.text


# Module scope, not session: while Playwright's sync driver runs, its event loop is the thread's running loop,
# and every asyncio test collected after a browser module would fail with "cannot be called from a running loop".
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    assert CHROMIUM.is_file(), "the browser tests need Debian's chromium: `make test` installs it (make browser)"
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


def opened(context: BrowserContext, url: str) -> tuple[Page, list[str]]:
    """The dashboard opened as a user opens it: the printed URL, which trades its token for a cookie; with the list
    that collects the page's script errors (a test ends by finding it empty)."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.wait_for_selector("tr[data-resource]", timeout=120_000)  # the first state, on a busy machine
    return page, errors


def screenshot(page: Page, name: str) -> None:
    """A picture of a view for the documentation, taken as the test sees it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"))


def row(page: Page, name: str) -> Locator:
    return page.locator(f"tr[data-resource='{name}']")


def cycle_number(page: Page, name: str) -> int:
    cell = row(page, name).locator("td.cycle")
    return int(cell.get_attribute("data-cycle") or 0)


def mark(page: Page) -> None:
    """A value that only this load of the page has: gone if the page reloads."""
    page.evaluate("window.devstackTestMark = 'still the same page'")


def same_page(page: Page) -> bool:
    return page.evaluate("window.devstackTestMark") == "still the same page"


def trigger_shows_a_new_cycle(page: Page, name: str, wait_ms: float) -> None:
    """A click on the row's Trigger: the row shows the next cycle (a restart, then the smoke tests), no reload."""
    expect(row(page, name).locator("td.cycle")).to_have_attribute("data-cycle", str(cycle_number(page, name)))
    before = cycle_number(page, name)
    mark(page)
    row(page, name).get_by_role("button", name="Trigger").click()
    cell = row(page, name).locator("td.cycle")
    expect(cell).to_have_attribute("data-cycle", str(before + 1), timeout=wait_ms)
    expect(cell).to_contain_text("restarted")
    expect(cell).to_contain_text("smoke ✓")
    assert same_page(page)


def save_shows_a_new_cycle(page: Page, relay: Path, wait_ms: float) -> None:
    """An edit of the demo relay's greeting (a synced file): the relay's row shows the live update, no reload."""
    before = cycle_number(page, "relay")
    mark(page)
    relay.write_text(relay.read_text().replace("devstack demo relay\\n", "devstack demo relay, edited\\n", 1))
    cell = row(page, "relay").locator("td.cycle")
    expect(cell).to_have_attribute("data-cycle", str(before + 1), timeout=wait_ms)
    expect(cell).to_contain_text("1 file changed → synced to 1 container(s)")
    assert same_page(page)
