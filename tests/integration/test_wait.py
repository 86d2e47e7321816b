"""`devstack wait` on the real engine, with a running `up` (through its board) and without one (asking the
engine, running the smoke tests): 0 once ready, 1 on timeout naming what was not."""

from __future__ import annotations

from pathlib import Path

import docker

from tests.daemon import Daemon
from tests.integration.conftest import copy_demo, tear_down


def test_wait_with_a_running_up_returns_once_its_first_pass_passed_smoke(tmp_path: Path,
                                                                         engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for(r"devstack up · project")  # the daemon is starting: wait must wait for it
        waited = project.devstack("wait", "--for", "smoke", "--timeout", "240")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "every resource: smoke ✓" in waited.stdout
        assert any("smoke    inject" in line for line in daemon.lines)  # it came after the first pass's tests
        unknown = project.devstack("wait", "nope", "--timeout", "5")
        assert unknown.returncode == 2 and "no resource named 'nope'" in unknown.stderr
    finally:
        daemon.stop()
        tear_down(project)


def test_wait_without_up_asks_the_engine_and_runs_the_smoke_tests(tmp_path: Path,
                                                                  engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    try:
        before = project.devstack("wait", "relay", "--timeout", "1")
        assert before.returncode == 1 and "timed out after 1s: relay: not deployed" in before.stderr
        ci = project.devstack("ci", "--timeout", "240")
        assert ci.returncode == 0, ci.stdout + ci.stderr
        ready = project.devstack("wait", "--timeout", "30")
        assert ready.returncode == 0 and "every resource: ready" in ready.stdout
        smoke = project.devstack("wait", "relay", "--for", "smoke", "--timeout", "60")
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "relay: smoke ✓" in smoke.stdout
        # A placement no node satisfies: the relay's new task stays pending, never ready.
        engine.services.get(f"{project.name}_relay").update(constraints=["node.labels.devstack-test==nowhere"])
        stuck = project.devstack("wait", "relay", "--timeout", "5")
        assert stuck.returncode == 1
        assert "timed out after 5s: relay: not ready (0/1" in stuck.stderr
    finally:
        tear_down(project)
