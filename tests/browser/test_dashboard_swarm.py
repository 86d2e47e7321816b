"""The dashboard as a developer uses it, in headless chromium, against the demo under `devstack up` on the real
swarm: every resource ready; a trigger and a saved file each show a new cycle in the row, without a reload; the
log view's filters and search; an injection found in the mail view with its timeline; the tab's title when a
resource fails (a fault rule set from the page); and no way in without the token."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests import browsing
from tests.browser.conftest import Dashboard
from tests.browsing import row, save_shows_a_new_cycle, screenshot, trigger_shows_a_new_cycle

WAIT_MS = 120_000  # a rebuild, a redeploy or a smoke run on a busy machine: generous, and never a measurement


def open_faults(page: Page) -> None:
    if not page.locator("#faults-box").evaluate("box => box.open"):
        page.locator("#faults-box summary").click()


def inject(dashboard: Dashboard, subject: str, **message: Any) -> None:
    browsing.inject(dashboard.project, subject, **message)


def test_the_page_lists_every_resource_ready(page: Page, dashboard: Dashboard) -> None:
    for name in ("relay", "sink"):
        expect(row(page, name).locator("td.runtime")).to_have_text("ready", timeout=WAIT_MS)
        expect(row(page, name).locator("td.build")).to_have_text("ok")
        expect(row(page, name).locator("td.smoke")).to_have_text("ok")
        expect(row(page, name).locator("td.image")).to_contain_text(f"{name}:")
        expect(row(page, name).locator("td.cycle")).to_contain_text("smoke ✓")
    relay_port = dashboard.project.port("RELAY_PORT")
    expect(row(page, "relay").locator(f"td.endpoints a[href='http://127.0.0.1:{relay_port}/']")).to_be_visible()
    expect(page.locator("[data-testid=summary]")).to_have_text("✓ all ready")
    expect(page).to_have_title(f"✓ all ready · {dashboard.project.name} · devstack")
    screenshot(page, "resources")


def test_a_trigger_click_rebuilds_and_the_row_shows_the_new_cycle(page: Page) -> None:
    trigger_shows_a_new_cycle(page, "relay", WAIT_MS)


def test_a_saved_file_shows_a_new_cycle_without_a_reload(page: Page, dashboard: Dashboard) -> None:
    save_shows_a_new_cycle(page, dashboard.project.root / "stacks" / "demo" / "relay" / "relay.py", WAIT_MS)
    greeting = httpx.get(f"http://127.0.0.1:{dashboard.project.port('RELAY_PORT')}/", timeout=10).text
    assert greeting == "devstack demo relay, edited\n"


def test_the_log_view_filters_by_resource_and_searches_text_and_regex(page: Page, dashboard: Dashboard) -> None:
    tag = uuid.uuid4().hex[:8]
    inject(dashboard, f"logs {tag}", recipients=(f"{tag}@example.test",))
    page.goto(f"{dashboard.base}/#logs")
    log = page.locator("[data-testid=log]")
    expect(log).to_contain_text(f"to=<{tag}@example.test> sent", timeout=WAIT_MS)
    page.fill("#log-search", tag)
    expect(log.locator(".line")).to_have_count(1)
    expect(log.locator(".line .res")).to_have_text("relay")
    page.fill("#log-search", f"/to=<{tag}@example\\.(test|org)>/")
    expect(log.locator(".line")).to_have_count(1)
    page.fill("#log-search", "/(unclosed/")
    expect(page.locator("#log-notice")).to_contain_text("not a regular expression")
    page.fill("#log-search", "")
    page.select_option("#log-resource", "sink")
    expect(log.locator(".line[data-resource=relay]")).to_have_count(0)
    page.select_option("#log-resource", "relay")
    expect(log.locator(".line[data-resource=relay]").first).to_be_visible()
    screenshot(page, "logs")


def test_a_failing_line_is_marked_and_errors_only_shows_it(page: Page, dashboard: Dashboard) -> None:
    tag = uuid.uuid4().hex[:8]
    rules = httpx.put(f"http://127.0.0.1:{dashboard.project.port('SINK_HTTP_PORT')}/faults",
                      json={"rules": [f"{tag}@example.test:550,text=5.1.1 no such user"]}, timeout=10)
    assert rules.status_code == 200
    try:
        inject(dashboard, "refused", recipients=(f"{tag}@example.test", f"ok-{tag}@example.test"))
    finally:
        httpx.delete(f"http://127.0.0.1:{dashboard.project.port('SINK_HTTP_PORT')}/faults", timeout=10)
    page.goto(f"{dashboard.base}/#logs")
    page.fill("#log-search", tag)
    log = page.locator("[data-testid=log]")
    expect(log.locator(".line")).to_have_count(2, timeout=WAIT_MS)
    expect(log.locator(".line.error")).to_have_count(1)
    expect(log.locator(".line.error")).to_contain_text("refused: 550 5.1.1 no such user")
    page.check("#log-errors")
    expect(log.locator(".line")).to_have_count(1)
    expect(log.locator(".line")).to_contain_text(f"to=<{tag}@example.test> refused")


def test_an_injection_shows_in_the_mail_view_with_its_timeline(page: Page, dashboard: Dashboard) -> None:
    subject = f"where is {uuid.uuid4().hex[:8]}"
    inject(dashboard, subject, text="the body, kept by the sink")
    page.goto(f"{dashboard.base}/#mail")
    page.select_option("#mail-field", "subject")
    page.fill("#mail-search", subject)
    found = page.locator("#messages tr[data-id]")
    expect(found).to_have_count(1, timeout=WAIT_MS)
    expect(found).to_contain_text("carol@example.test")
    found.click()
    expect(page.locator("#message pre.body")).to_contain_text("the body, kept by the sink")
    timeline = page.locator("#timeline")
    expect(timeline.locator("li[data-kind=sink]")).to_contain_text("RCPT TO <carol@example.test>")
    expect(timeline.locator("li[data-kind=log]")).to_contain_text("to=<carol@example.test> sent")
    message_id = page.input_value("#where-id")
    assert message_id.startswith("<") and message_id.endswith("@devstack.test>")
    expect(page.locator("#mail-counters [data-counter=messages] .value")).not_to_have_text("0")
    screenshot(page, "mail")


def test_the_smoke_tests_message_is_found_with_the_run_that_sent_it(page: Page, dashboard: Dashboard) -> None:
    page.goto(f"{dashboard.base}/#smoke")
    runs = page.locator("article.run")
    expect(runs.first).to_be_visible()  # the view has loaded every run (at once)
    before = runs.count()
    page.click("#run-smoke-2")
    expect(runs).to_have_count(before + 1, timeout=WAIT_MS)
    newest = runs.first
    expect(newest).to_contain_text("asked for")
    expect(newest.locator("li.result[data-test=inject]")).to_contain_text("2 accepted, 2 delivered to the sink")
    screenshot(page, "smoke")
    page.goto(f"{dashboard.base}/#mail")
    page.select_option("#mail-field", "subject")
    page.fill("#mail-search", "Hello Alice")
    listed = page.locator("#messages tr[data-id]")
    expect(listed.first).to_contain_text("Hello Alice")  # the search has applied: the newest Alice first
    expect(listed.filter(has_not_text="Hello Alice")).to_have_count(0)
    listed.first.click()
    expect(page.locator("#message h3")).to_have_text("Hello Alice")
    smoke = page.locator("#timeline li[data-kind=smoke]")
    expect(smoke).to_contain_text(f"inject (http-inject, run {before + 1}, asked for) sent it", timeout=WAIT_MS)
    expect(page.locator("#timeline li[data-kind=sink]")).to_have_count(1)
    screenshot(page, "timeline")


def test_the_title_changes_when_a_resource_fails(page: Page, dashboard: Dashboard) -> None:
    project = dashboard.project.name
    expect(page).to_have_title(f"✓ all ready · {project} · devstack", timeout=WAIT_MS)
    page.goto(f"{dashboard.base}/#mail")
    open_faults(page)
    page.fill("#faults", "*@example.test:550,text=5.1.1 refused by the dashboard test")
    page.click("#faults-save")
    expect(page.locator("#faults-state")).to_have_text("saved 1 rule(s)")
    expect(page.locator("#fault-hits")).to_contain_text("rcpt:*@example.test:550")
    page.goto(f"{dashboard.base}/#resources")
    page.click("#run-smoke")
    expect(page).to_have_title(f"✗ 1 failing · {project} · devstack", timeout=WAIT_MS)
    expect(row(page, "relay").locator("td.smoke")).to_have_text("failed")
    assert page.evaluate("document.getElementById('favicon').href").startswith("data:image/svg+xml")
    assert "d64545" in page.evaluate("decodeURIComponent(document.getElementById('favicon').href)")
    page.goto(f"{dashboard.base}/#smoke")
    failed = page.locator("article.run").first.locator("li.result[data-test=inject]")
    expect(failed).to_contain_text("expected success_count=2, fail_count=0")
    screenshot(page, "failing")
    page.goto(f"{dashboard.base}/#mail")
    open_faults(page)
    page.fill("#faults", "")
    page.click("#faults-save")
    expect(page.locator("#faults-state")).to_have_text("saved 0 rule(s)")
    page.goto(f"{dashboard.base}/#resources")
    page.click("#run-smoke")
    expect(page).to_have_title(f"✓ all ready · {project} · devstack", timeout=WAIT_MS)


def test_without_the_token_the_dashboard_refuses(context: BrowserContext, dashboard: Dashboard) -> None:
    page = context.new_page()
    response = page.goto(dashboard.base + "/")
    assert response is not None and response.status == 401
    assert "open the URL that `devstack up` printed" in page.content()
    wrong = page.goto(dashboard.base + "/?token=not-it")
    assert wrong is not None and wrong.status == 403


def test_no_page_or_stream_shows_the_dev_secret(dashboard: Dashboard) -> None:
    """The demo's injection password is a dev secret: a message that carries it in its sender, subject and body
    puts it in the relay's log, the sink's capture and the timeline; none of it leaves the daemon."""
    secret = dashboard.project.secret("inject-password")
    inject(dashboard, f"secret {secret}", sender=f"{secret}@devstack.test", text=f"password: {secret}")
    cookie = {"Cookie": f"devstack-{dashboard.base.rsplit(':', 1)[1]}={dashboard.token}"}
    with httpx.Client(base_url=dashboard.base, headers=cookie, timeout=30) as client:
        listed = client.get("/api/mail/messages", params={"sender": secret[:6]})
        assert listed.status_code == 200
        mine = [m for m in listed.json()["messages"] if m["mail_from"] == "[redacted]@devstack.test"]
        assert len(mine) == 1
        message_id = mine[0]["message_id"]
        answers = [client.get(path, params=params) for path, params in [
            ("/", {}), ("/static/app.js", {}), ("/api/state", {}), ("/api/logs", {}), ("/api/smoke", {}),
            ("/api/mail/stats", {}), ("/api/mail/messages", {}), (f"/api/mail/messages/{mine[0]['id']}", {}),
            ("/api/mail/timeline", {"message_id": message_id}), ("/api/mail/faults", {})]]
        stream = ""
        with client.stream("GET", "/api/stream") as events:
            for chunk in events.iter_text():
                stream += chunk
                if "[redacted]@devstack.test" in stream and "event: state" in stream:
                    break
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text
    assert secret not in stream
    timeline = json.loads(answers[8].text)
    assert {e["kind"] for e in timeline["entries"]} == {"sink", "log"}
    assert all(secret not in e["text"] for e in timeline["entries"])
    body = json.loads(answers[7].text)["body"]
    assert "password: [redacted]" in body


def test_disable_and_enable_from_the_page(page: Page, dashboard: Dashboard) -> None:
    """Last in this module: the relay leaves the cluster and comes back, as `devstack disable` / `enable` do."""
    engine_name = f"{dashboard.project.name}_relay"
    row(page, "relay").get_by_role("button", name="Disable").click()
    expect(row(page, "relay")).to_have_class("disabled", timeout=WAIT_MS)
    expect(row(page, "relay")).to_contain_text("disabled for this project")
    expect(page.locator("[data-testid=summary]")).to_have_text("✓ all ready", timeout=WAIT_MS)  # the rest runs
    services = subprocess.run(["docker", "service", "ls", "--format", "{{.Name}}"], capture_output=True, text=True,
                              check=True, timeout=60).stdout.split()
    assert engine_name not in services
    row(page, "relay").get_by_role("button", name="Enable").click()
    expect(row(page, "relay").locator("td.runtime")).to_have_text("ready", timeout=WAIT_MS)
    assert "relay" not in (dashboard.project.root / ".devstack" / "disabled.json").read_text()
