"""Stopping `devstack up` at the worst moment: Ctrl-C during a readiness wait that would never end ends the
daemon within 2 s with exit 130, and after a kill -9 `down` still leaves nothing behind. And a first pass that
fails for an outside reason recovers by itself."""

from __future__ import annotations

import os
import signal
import socket
import time

import docker

from tests.daemon import Daemon
from tests.integration.conftest import Project, labelled

# A service that stays "starting" for ten minutes: its first healthcheck only runs after the interval.
_NEVER_HEALTHY = """services:
  stuck:
    image: relay
    command: ["python3", "-c", "import time; time.sleep(3600)"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 10m
    deploy:
      endpoint_mode: dnsrr
"""


def test_ctrl_c_during_a_readiness_wait_exits_at_once(demo: Project, engine: docker.DockerClient) -> None:
    stack = demo.root / "stacks/demo/stack.yml"
    stack.write_text(stack.read_text().replace("services:\n", _NEVER_HEALTHY, 1))
    daemon = Daemon(demo.root, demo.env, "--timeout", "600")
    try:
        daemon.wait_for(r"deployed \d+ services")  # now it waits for `stuck`, which never becomes ready
        time.sleep(1)
        daemon.process.send_signal(signal.SIGINT)
        started = time.monotonic()
        code = daemon.process.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        daemon.stop()
    assert code == 130, "\n".join(daemon.lines[-20:])
    assert took < 2.0, f"Ctrl-C took {took:.1f}s"
    assert "interrupted" in "\n".join(daemon.lines[-5:])
    assert "Traceback" not in "\n".join(daemon.lines)
    assert not (demo.root / ".devstack" / "daemon.json").exists()
    deadline = time.monotonic() + 60  # the engine's truth: the stack stays deployed, `stuck` never ready
    while not (status := demo.status())["relay"]["ready"] and time.monotonic() < deadline:
        time.sleep(1)
    assert status["relay"]["ready"] and not status["stuck"]["ready"]

    # kill -9 leaves no chance to clean up; `down` finds everything by label all the same.
    killed = Daemon(demo.root, demo.env, "--timeout", "600")
    try:
        killed.wait_for("deployment unchanged")
        os.kill(killed.process.pid, signal.SIGKILL)
        assert killed.process.wait(timeout=10) == -signal.SIGKILL
    finally:
        killed.stop()
    down = demo.devstack("down", "--images")
    assert down.returncode == 0, down.stderr
    assert not any(labelled(engine, demo.name).values())


def test_a_port_held_at_start_is_retried_until_it_is_free(demo: Project) -> None:
    """A first pass that fails for an outside reason is retried with backoff, with no edit."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", demo.port("RELAY_PORT")))
        taken.listen(1)
        daemon = Daemon(demo.root, demo.env)
        try:
            daemon.wait_for(r"retrying in \d+s \(no edit needed\)")
        except BaseException:
            daemon.stop()
            raise
    try:
        assert "is already in use" in "\n".join(daemon.lines)
        assert "fix it and save" not in "\n".join(daemon.lines)
        daemon.wait_for(r"retry → .*smoke ✓", timeout=90)  # the port is free now: deployed, smoke-tested
        assert demo.status()["relay"]["ready"]
    finally:
        daemon.stop()
