"""The dashboard in a real browser: Debian's chromium, driven by Playwright for Python, against the demo under
`devstack up` on the real swarm. Never skipped: without chromium (`make test` installs it) these tests fail and
say so. Playwright's own browser download is never used (`playwright install` cannot run here)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.daemon import Daemon
from tests.integration.conftest import Project, copy_demo, tear_down

CHROMIUM = Path("/usr/bin/chromium")
# As root in a container-like sandbox, and with no network but the registries: no sandbox, no GPU, and none of
# the background requests chromium makes on its own.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
# `make screenshots` sets this to docs/images, the documentation's pictures; otherwise they go to a temporary folder
# (a test run leaves the tree as it was).
SCREENSHOTS = Path(os.environ.get("DEVSTACK_SCREENSHOTS") or tempfile.gettempdir()) / ""
VIEWPORT = {"width": 1400, "height": 820}


@dataclass
class Dashboard:
    project: Project
    daemon: Daemon
    url: str  # with the token, as printed

    @property
    def base(self) -> str:
        return self.url.split("?", 1)[0].rstrip("/")

    @property
    def token(self) -> str:
        return self.url.split("token=", 1)[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Dashboard]:
    """The demo under `devstack up`, its dashboard on a free port, every resource ready and smoke-tested."""
    project = copy_demo(tmp_path_factory.mktemp("browser"))
    daemon = Daemon(project.root, project.env, "--web-port", "0")
    try:
        line = daemon.wait_for(r"dashboard: http://127\.0\.0\.1:\d+/\?token=")
        daemon.wait_for(r"watching for changes")
        url = re.search(r"http://\S+", line)
        assert url is not None
        yield Dashboard(project, daemon, url.group(0))
    finally:
        daemon.stop()
        print("\n".join(["devstack up said:", *daemon.lines[-60:]]))  # shown when a test of the module failed
        tear_down(project)


# Module scope, not session: while Playwright's sync driver runs, its event loop is the thread's running loop,
# and every asyncio test collected after the browser tests would fail with "cannot be called from a running loop".
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


@pytest.fixture
def page(context: BrowserContext, dashboard: Dashboard) -> Iterator[Page]:
    """The dashboard opened as a user opens it: the printed URL, which trades its token for a cookie."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(dashboard.url)
    page.wait_for_selector("tr[data-resource]")
    yield page
    assert errors == [], f"the page's script failed: {errors}"


def screenshot(page: Page, name: str) -> None:
    """A picture of a view for the documentation, taken as the test sees it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"))
