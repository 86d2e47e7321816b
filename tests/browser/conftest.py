"""The dashboard in a real browser against the demo under `devstack up` on the real swarm. The browser itself
(Debian's chromium through Playwright) comes from tests/browsing.py, shared with the tests on the test cluster."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from playwright.sync_api import BrowserContext, Page

from tests import browsing
from tests.daemon import Daemon
from tests.integration.conftest import Project, copy_demo, tear_down

Dashboard = browsing.Dashboard[Project]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Dashboard]:
    """The demo under `devstack up`, its dashboard on a free port, every resource ready and smoke-tested."""
    project = copy_demo(tmp_path_factory.mktemp("browser"))
    daemon = Daemon(project.root, project.env, "--web-port", "0")
    try:
        yield browsing.served(project, daemon, timeout=180)
    finally:
        daemon.stop()
        print("\n".join(["devstack up said:", *daemon.lines[-60:]]))  # shown when a test of the module failed
        tear_down(project)


@pytest.fixture
def page(context: BrowserContext, dashboard: Dashboard) -> Iterator[Page]:
    page, errors = browsing.opened(context, dashboard.url)
    yield page
    assert errors == [], f"the page's script failed: {errors}"
