"""trigger = "manual" under a real `devstack up`: saves of the relay are recorded as pending (status shows them)
and nothing is built; `devstack trigger relay` takes them all into one cycle: one build, one update, smoke."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.daemon import Daemon
from tests.integration.conftest import Project, copy_demo, tear_down


@pytest.fixture
def manual(tmp_path: Path, engine: docker.DockerClient) -> Iterator[tuple[Project, Daemon]]:
    project = copy_demo(tmp_path)
    config = project.root / "devstack.toml"
    # Without live update, a save of relay.py takes the rebuild path.
    text = re.sub(r"\[images\.relay\.live_update\].*?(?=\n\[)", "", config.read_text(), flags=re.S)
    config.write_text(text + '\n[resources.relay]\ntrigger = "manual"\n')
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for("watching for changes")
        yield project, daemon
    finally:
        daemon.stop()
        tear_down(project)


def _pending(project: Project) -> int:
    return int(project.status()["relay"]["pending"])  # type: ignore[call-overload]


def test_saves_stay_pending_until_the_trigger_then_one_cycle(manual: tuple[Project, Daemon]) -> None:
    project, daemon = manual
    mark = daemon.mark()
    relay = project.root / "stacks" / "demo" / "relay"
    with (relay / "relay.py").open("a") as file:
        file.write("\n# first save\n")
    deadline = time.monotonic() + 30
    while _pending(project) != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    with (relay / "Dockerfile").open("a") as file:
        file.write("\n# second save\n")
    while _pending(project) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _pending(project) == 2
    status = project.devstack("status")
    assert "2 saves pending: devstack trigger relay" in status.stdout
    assert not any("→ built" in line for line in daemon.lines[mark:])  # nothing ran for the saves
    trigger = project.devstack("trigger", "relay")
    assert trigger.returncode == 0, trigger.stderr
    line = daemon.wait_for(r"relay .*2 files changed → built", after=mark)
    assert "smoke ✓" in line
    assert sum("→ built" in line for line in daemon.lines[mark:]) == 1  # one cycle for both saves
    assert _pending(project) == 0
