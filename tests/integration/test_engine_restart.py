"""The engine restarts under a running `devstack up` (a laptop's Docker Desktop restarting, an upgrade): the daemon
says the engine went away, and when it is back it converges again by itself — status ready, smoke tests green —
with no file touched.

The engine is shared with every other test, so this restarts it once, the way `make docker` starts it (its own
session, log appended to /var/log/dockerd.log), and always leaves it running again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.daemon import Daemon
from tests.integration.conftest import Project, copy_demo, tear_down

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # shared with the long run
import restarts

BACK_WITHIN_S = 60


@pytest.fixture
def restartable_engine(engine: docker.DockerClient) -> Iterator[None]:
    why = restarts.restartable_dockerd()
    assert why is None, why
    yield
    if not restarts.engine_answers():
        restarts.start_dockerd()


def test_engine_restart_is_recovered_without_an_edit(tmp_path: Path, restartable_engine: None) -> None:
    project: Project = copy_demo(tmp_path)
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for("watching for changes")
        mark = daemon.mark()
        before = restarts.engine_environment(int(restarts.DOCKER_PID.read_text()))
        restarts.stop_dockerd()
        daemon.wait_for("the engine went away", after=mark, timeout=30)
        restarts.start_dockerd()
        # Started again as it was, not with this test run's PATH (the test cluster's containerd and runc first).
        assert restarts.engine_environment(int(restarts.DOCKER_PID.read_text()))["PATH"] == before["PATH"]
        back = time.monotonic()
        line = daemon.wait_for(r"the engine is back → .*smoke ✓", after=mark, timeout=BACK_WITHIN_S)
        assert "failed" not in line
        status = project.status()
        assert time.monotonic() - back < BACK_WITHIN_S
        assert all(r["ready"] and r["smoke"] == "ok" for r in status.values()), status
        assert "Traceback" not in "\n".join(daemon.lines)
    finally:
        daemon.stop()
        tear_down(project)
