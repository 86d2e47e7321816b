"""Snapshots on the real engine: `ci --snapshot` of a failing run names the failure, holds the resources, the smoke
results, what ci printed and the last log lines, as JSON and as one offline HTML page; `devstack snapshot` does the
same at any moment. A canary secret that reaches a service's log and a failure message appears in neither file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.daemon import Daemon
from tests.integration.conftest import Project, copy_demo, tear_down

CANARY = """
[secrets.canary]
length = 40

# Fails on purpose: the relay answers 404 to this path, and logs the path, secret and all.
[[smoke]]
name = "canary"
type = "http"
resource = "relay"
url = "http://127.0.0.1:${RELAY_PORT}/canary-${secret:canary}"
timeout = 5
"""


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Project]:
    project = copy_demo(tmp_path_factory.mktemp("snapshots"))
    with (project.root / "devstack.toml").open("a") as config:
        config.write(CANARY)
    project.ci = project.devstack("ci", "--timeout", "240", "--snapshot", "ci.json")  # type: ignore[attr-defined]
    project.ci_html = project.devstack("ci", "--timeout", "240",  # type: ignore[attr-defined]
                                       "--snapshot", str(project.root / "ci.html"))
    yield project
    tear_down(project)


def _no_secret(project: Project, text: str) -> None:
    password = project.secret("inject-password")
    assert len(password) == 24 and password not in text
    if "canary" in (project.root / "devstack.toml").read_text():
        canary = project.secret("canary")
        assert len(canary) == 40 and canary not in text


def test_a_failing_ci_writes_a_snapshot_that_names_the_failure(failed: Project) -> None:
    ci = failed.ci  # type: ignore[attr-defined]
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "wrote the snapshot ci.json" in ci.stdout
    text = (failed.root / "ci.json").read_text()
    _no_secret(failed, text)
    snapshot = json.loads(text)
    assert snapshot["command"] == "ci" and snapshot["project"] == failed.name
    assert snapshot["failure"] == "1 of 3 smoke tests failed: canary"
    assert {(r["name"], r["ok"]) for r in snapshot["smoke"]} == {("inject", True), ("sink-smtp", True),
                                                                  ("canary", False)}
    canary = next(r for r in snapshot["smoke"] if r["name"] == "canary")
    assert "HTTP 200 from http://127.0.0.1:" in canary["expected"] and "[redacted]" in canary["expected"]
    assert {r["name"]: r["ready"] for r in snapshot["resources"]} == {"relay": True, "sink": True}
    assert any("devstack ci · project" in line for line in snapshot["output"])
    relay = [line["text"] for line in snapshot["logs"]["relay"]]
    assert "GET /canary-[redacted] 404" in "\n".join(relay), relay  # the log line is there, the secret is not
    assert all(set(line) == {"time", "container", "stream", "text"} for line in snapshot["logs"]["relay"])


def test_the_html_snapshot_is_one_offline_page(failed: Project) -> None:
    assert failed.ci_html.returncode == 1  # type: ignore[attr-defined]
    page = (failed.root / "ci.html").read_text()
    _no_secret(failed, page)
    assert page.startswith("<!DOCTYPE html>") and "1 of 3 smoke tests failed: canary" in page
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|\bhref=|@import|url\(", page)  # nothing to fetch
    assert "GET /canary-[redacted] 404" in page


def test_snapshot_at_any_moment(failed: Project) -> None:
    result = failed.devstack("snapshot", "now.html")
    assert result.returncode == 0, result.stderr
    page = (failed.root / "now.html").read_text()
    _no_secret(failed, page)
    assert "relay" in page and "sink" in page
    wrong = failed.devstack("snapshot", "now.txt")
    assert wrong.returncode == 2 and "FILE: now.txt: expected a file ending in .json or .html" in wrong.stderr


def test_a_passing_ci_writes_no_snapshot(tmp_path: Path, failed: Project) -> None:
    config = (failed.root / "devstack.toml").read_text()
    (failed.root / "devstack.toml").write_text(config.replace(CANARY, ""))
    passing = failed.devstack("ci", "--timeout", "120", "--snapshot", str(tmp_path / "ok.json"))
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert not (tmp_path / "ok.json").exists()


def test_up_writes_a_snapshot_when_it_stops_and_serves_one_meanwhile(tmp_path: Path,
                                                                     engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    daemon = Daemon(project.root, project.env, "--snapshot-on-exit", "up.json")
    try:
        daemon.wait_for("watching for changes")
        during = project.devstack("snapshot", "during.json")
        assert during.returncode == 0, during.stderr
        assert "the board of devstack up" in during.stdout
        board = json.loads((project.root / "during.json").read_text())
        assert board["phase"] == "watching"
        assert {r["name"]: (r["deploy"], r["smoke"]) for r in board["resources"]} == {
            "relay": ("ok", "ok"), "sink": ("ok", "ok")}
        assert {r["name"] for r in board["smoke"]} == {"inject", "sink-smtp"}
        assert any("watching for changes" in line for line in board["output"])
        assert daemon.stop() == 0
        assert "wrote the snapshot" in "\n".join(daemon.lines[-3:])
        text = (project.root / "up.json").read_text()
        _no_secret(project, text)
        after = json.loads(text)
        assert after["command"] == "up" and after["failure"] is None
        assert {r["name"] for r in after["resources"]} == {"relay", "sink"}
        assert any("stopped watching" in line or "watching for changes" in line for line in after["output"])
    finally:
        daemon.stop()
        tear_down(project)
