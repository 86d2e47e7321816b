"""The engine restarts under a running `devstack up` (a laptop's Docker Desktop restarting, an upgrade): the daemon
says the engine went away, and when it is back it converges again by itself — status ready, smoke tests green —
with no file touched.

The engine is shared with every other test, so this restarts it once, the way `make docker` starts it (its own
session, log appended to /var/log/dockerd.log), and always leaves it running again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.daemon import Daemon
from tests.integration.conftest import Project, copy_demo, tear_down

PID_FILE = Path("/var/run/docker.pid")
BACK_WITHIN_S = 60


def _answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0


def _start_engine() -> None:
    # As `make docker` does: detached from us (the shell exits, dockerd outlives the test run).
    subprocess.run(["sh", "-c", "setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &"], check=True)
    deadline = time.monotonic() + 60
    while not _answers():
        assert time.monotonic() < deadline, "dockerd did not answer within 60 s; see /var/log/dockerd.log"
        time.sleep(0.5)


def _stop_engine() -> None:
    pid = int(PID_FILE.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 90
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "dockerd did not stop within 90 s"
        time.sleep(0.2)
    if PID_FILE.exists() and PID_FILE.read_text().strip() == str(pid):
        PID_FILE.unlink()  # a stale pid file of a dead dockerd would stop the next one from starting


@pytest.fixture
def restartable_engine(engine: docker.DockerClient) -> Iterator[None]:
    assert os.geteuid() == 0 and PID_FILE.is_file(), \
        "restarting the engine needs root and a dockerd started with a pid file, as `make docker` starts it"
    yield
    if not _answers():
        _start_engine()


def test_engine_restart_is_recovered_without_an_edit(tmp_path: Path, restartable_engine: None) -> None:
    project: Project = copy_demo(tmp_path)
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for("watching for changes")
        mark = daemon.mark()
        _stop_engine()
        daemon.wait_for("the engine went away", after=mark, timeout=30)
        _start_engine()
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
