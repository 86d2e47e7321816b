"""trigger = "manual" under a real `devstack up`: saves of the relay are recorded as pending (status shows them)
and nothing is built; `devstack trigger relay` takes them all into one cycle: one build, one update, smoke."""

from __future__ import annotations

import json
import re
import time
import uuid
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
    daemon = Daemon(project.root, project.env, "--web-port", "0")
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


def _wait_pending(project: Project, count: int) -> int:
    deadline = time.monotonic() + 30
    while _pending(project) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    return _pending(project)


def test_the_mode_switched_at_run_time_and_reset(manual: tuple[Project, Daemon]) -> None:
    """`devstack trigger-mode relay auto` runs the save it held at once, and the next ones; `reset` puts
    devstack.toml's manual back. The choice is kept in .devstack/trigger-modes.json and shown by status."""
    project, daemon = manual
    relay = project.root / "stacks" / "demo" / "relay" / "relay.py"
    modes = project.root / ".devstack" / "trigger-modes.json"
    mark = daemon.mark()
    with relay.open("a") as file:
        # Content of this run's own: an image of the same content, left by an earlier run, would not be built.
        file.write(f"\n# held {uuid.uuid4().hex}\n")
    assert _wait_pending(project, 1) == 1
    switched = project.devstack("trigger-mode", "relay", "auto")
    assert switched.returncode == 0, switched.stderr
    assert "relay    trigger mode auto: saves run at once" in switched.stdout
    line = daemon.wait_for(r"relay .*1 file changed → built", after=mark)
    assert "smoke ✓" in line
    assert json.loads(modes.read_text()) == {"relay": "auto"}
    row = project.status()["relay"]
    assert (row["trigger"], row["trigger_override"], row["pending"]) == ("auto", "auto", 0)
    status = project.devstack("status").stdout
    assert "trigger auto (devstack trigger-mode relay reset: as devstack.toml says)" in status

    reset = project.devstack("trigger-mode", "relay", "reset")
    assert reset.returncode == 0 and "trigger mode as devstack.toml says: manual" in reset.stdout, reset.stdout
    assert json.loads(modes.read_text()) == {}
    mark = daemon.mark()
    with relay.open("a") as file:
        file.write("\n# held again\n")
    assert _wait_pending(project, 1) == 1
    assert not any("→ built" in line for line in daemon.lines[mark:])
    row = project.status()["relay"]
    assert (row["trigger"], row["trigger_override"]) == ("manual", None)


def test_trigger_mode_refuses_an_unknown_resource_or_mode(manual: tuple[Project, Daemon]) -> None:
    project, _ = manual
    unknown = project.devstack("trigger-mode", "rely", "manual")
    assert unknown.returncode == 2 and "no resource named 'rely' (the resources: " in unknown.stderr, unknown.stderr
    bad = project.devstack("trigger-mode", "relay", "sometimes")
    assert bad.returncode == 2 and "'sometimes' is not one of 'auto', 'manual', 'reset'" in bad.stderr, bad.stderr
    assert "Traceback" not in unknown.stderr + bad.stderr


def test_a_mode_set_without_up_is_where_the_next_up_starts(tmp_path: Path, engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    config = project.root / "devstack.toml"
    config.write_text(re.sub(r"\[images\.relay\.live_update\].*?(?=\n\[)", "", config.read_text(), flags=re.S))
    try:
        assert project.devstack("ci", "--timeout", "180").returncode == 0
        switched = project.devstack("trigger-mode", "relay", "manual")
        assert switched.returncode == 0, switched.stderr
        assert "kept for this project: the next `devstack up` starts so" in switched.stdout
        assert "relay    trigger manual (devstack trigger-mode relay reset" in project.devstack("status").stdout
        daemon = Daemon(project.root, project.env, "--web-port", "0")
        try:
            daemon.wait_for("watching for changes")
            mark = daemon.mark()
            with (project.root / "stacks" / "demo" / "relay" / "relay.py").open("a") as file:
                file.write("\n# held from the start\n")
            assert _wait_pending(project, 1) == 1
            assert project.status()["relay"]["trigger_override"] == "manual"
            assert not any("→ built" in line for line in daemon.lines[mark:])
        finally:
            daemon.stop()
    finally:
        tear_down(project)
