"""The dashboard on Kubernetes, as a developer uses it: the demo's Kubernetes profile under `devstack up` on the
real test cluster, opened in Debian's chromium. Every workload ready; a trigger click and a saved file each show a
new cycle in the row without a reload; the log view's filter and search, with the pod that wrote each line; a
message injected through the forward found in the mail view (the sink reached through its forward) with its
timeline; the switch to manual mode holding a save until it is switched back; the tab's title when a resource
fails.

One `devstack up` serves the module's tests, which run in order (each is a step of a user's session)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests import browsing
from tests.browsing import cycle_number, mark, row, same_page
from tests.daemon import Daemon
from tests.realkube.conftest import KubeProject, TestCluster, copy_demo

WAIT_MS = 300_000  # a rollout or a smoke run on the shared cluster under load: generous, never a measurement


Dashboard = browsing.Dashboard[KubeProject]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory, test_cluster: TestCluster) -> Iterator[Dashboard]:
    project = copy_demo(tmp_path_factory.mktemp("kubedash"), test_cluster)
    daemon = Daemon(project.root, project.env, "--web-port", "0", options=project.global_options())
    try:
        yield browsing.served(project, daemon, timeout=900)
    finally:
        daemon.stop()
        print("\n".join(["devstack up said:", *daemon.lines[-60:]]))  # shown when a test of the module failed
        down = project.devstack("down", "--volumes", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture
def page(context: BrowserContext, dashboard: Dashboard) -> Iterator[Page]:
    page, errors = browsing.opened(context, dashboard.url)
    yield page
    assert errors == [], f"the page's script failed: {errors}"


def test_the_page_lists_every_workload_ready(page: Page, dashboard: Dashboard) -> None:
    for name in ("relay", "sink"):
        expect(row(page, name).locator("td.runtime")).to_have_text("ready", timeout=WAIT_MS)
        expect(row(page, name).locator("td.name")).to_contain_text("workload")
        expect(row(page, name).locator("td.smoke")).to_have_text("ok")
        expect(row(page, name).locator("td.image")).to_contain_text(f"{name}:")
    relay_port = dashboard.project.port("RELAY_PORT")
    expect(row(page, "relay").locator(f"td.endpoints a[href='http://127.0.0.1:{relay_port}/']")).to_be_visible()
    expect(page).to_have_title(f"✓ all ready · {dashboard.project.name} · devstack", timeout=WAIT_MS)


def test_a_trigger_click_restarts_and_the_row_shows_the_new_cycle(page: Page) -> None:
    browsing.trigger_shows_a_new_cycle(page, "relay", WAIT_MS)


def test_a_saved_file_shows_a_new_cycle_without_a_reload(page: Page, dashboard: Dashboard) -> None:
    try:
        browsing.save_shows_a_new_cycle(page, dashboard.project.root.parent / "relay" / "relay.py", WAIT_MS)
    except AssertionError as err:  # the daemon's own words for what went wrong
        raise AssertionError("\n".join([str(err), "devstack up said:", *dashboard.daemon.lines[-30:]])) from None
    greeting = httpx.get(f"http://127.0.0.1:{dashboard.project.port('RELAY_PORT')}/", timeout=30).text
    assert greeting == "devstack demo relay, edited\n"


def test_the_log_view_filters_and_searches_and_names_the_pod(page: Page, dashboard: Dashboard) -> None:
    tag = uuid.uuid4().hex[:8]
    browsing.inject(dashboard.project, f"logs {tag}", recipients=(f"{tag}@example.test",))
    page.goto(f"{dashboard.base}/#logs")
    log = page.locator("[data-testid=log]")
    page.fill("#log-search", tag)
    expect(log.locator(".line")).to_have_count(1, timeout=WAIT_MS)
    line = log.locator(".line").first
    expect(line).to_contain_text(f"to=<{tag}@example.test> sent")
    expect(line.locator(".res")).to_have_text("relay")
    expect(line.locator(".src")).to_contain_text("relay-")  # the pod that wrote it (pod/container)
    page.fill("#log-search", f"/to=<{tag}@example\\.(test|org)>/")
    expect(log.locator(".line")).to_have_count(1)
    page.fill("#log-search", "")
    page.select_option("#log-resource", "sink")
    expect(log.locator(".line[data-resource=relay]")).to_have_count(0)
    page.select_option("#log-resource", "relay")
    expect(log.locator(".line[data-resource=relay]").first).to_be_visible()


def test_an_injection_shows_in_the_mail_view_with_its_timeline(page: Page, dashboard: Dashboard) -> None:
    subject = f"on the cluster {uuid.uuid4().hex[:8]}"
    browsing.inject(dashboard.project, subject, recipients=("kube@example.test",), text="through the forward")
    page.goto(f"{dashboard.base}/#mail")
    page.select_option("#mail-field", "subject")
    page.fill("#mail-search", subject)
    found = page.locator("#messages tr[data-id]")
    expect(found).to_have_count(1, timeout=WAIT_MS)
    found.click()
    expect(page.locator("#message pre.body")).to_contain_text("through the forward")
    timeline = page.locator("#timeline")
    expect(timeline.locator("li[data-kind=sink]")).to_contain_text("RCPT TO <kube@example.test>")
    expect(timeline.locator("li[data-kind=log]")).to_contain_text("to=<kube@example.test> sent")


def test_switching_to_manual_holds_a_save_until_switched_back(page: Page, dashboard: Dashboard) -> None:
    relay_row, modes = row(page, "relay"), dashboard.project.root / ".devstack" / "trigger-modes.json"
    mark(page)
    relay_row.get_by_role("button", name="Switch to manual").click()
    expect(relay_row.locator("[data-testid=mode]")).to_have_text("workload · manual (switched from devstack.toml)",
                                                                   timeout=WAIT_MS)
    assert json.loads(modes.read_text()) == {"relay": "manual"}
    before = cycle_number(page, "relay")
    relay = dashboard.project.root.parent / "relay" / "relay.py"
    relay.write_text(relay.read_text().replace("devstack demo relay, edited\\n", "devstack demo relay, held\\n", 1))
    expect(relay_row.locator("[data-testid=pending]")).to_have_text("1 save(s) pending: Trigger runs them",
                                                                      timeout=WAIT_MS)
    assert cycle_number(page, "relay") == before  # held: no cycle ran for it
    relay_row.get_by_role("button", name="Switch to auto").click()
    cell = relay_row.locator("td.cycle")
    expect(cell).to_have_attribute("data-cycle", str(before + 1), timeout=WAIT_MS)
    expect(cell).to_contain_text("1 file changed → synced to 1 container(s)")
    expect(relay_row.locator("[data-testid=pending]")).to_have_count(0)
    relay_row.get_by_role("button", name="Reset mode").click()
    expect(relay_row.locator("[data-testid=mode]")).to_have_text("workload", timeout=WAIT_MS)
    expect(relay_row.get_by_role("button", name="Reset mode")).to_have_count(0)
    assert json.loads(modes.read_text()) == {}
    assert same_page(page)


def test_the_title_changes_when_a_resource_fails(page: Page, dashboard: Dashboard) -> None:
    """Last: a fault rule at the sink refuses the smoke test's recipients, so its run fails; cleared, it passes."""
    project, sink = dashboard.project.name, f"http://127.0.0.1:{dashboard.project.port('SINK_HTTP_PORT')}"
    expect(page).to_have_title(f"✓ all ready · {project} · devstack", timeout=WAIT_MS)
    rules = httpx.put(f"{sink}/faults", json={"rules": ["*@example.test:550,text=5.1.1 refused on the cluster"]},
                      timeout=30)
    assert rules.status_code == 200, rules.text
    try:
        page.click("#run-smoke")
        expect(page).to_have_title(f"✗ 1 failing · {project} · devstack", timeout=WAIT_MS)
        expect(row(page, "relay").locator("td.smoke")).to_have_text("failed")
    finally:
        assert httpx.delete(f"{sink}/faults", timeout=30).status_code == 200
    page.click("#run-smoke")
    expect(page).to_have_title(f"✓ all ready · {project} · devstack", timeout=WAIT_MS)
