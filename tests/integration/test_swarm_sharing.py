"""The swarm is the engine's, shared by every project (and every tool) on it: `down` never leaves it, and
`down --cluster` leaves the swarm devstack initialised only when nothing uses it or is about to.

These tests leave and initialise swarms, which on the shared engine would pull the swarm from under every other
project on the machine; they run on a private engine of their own (tests/private_engine.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import Daemon
from tests.integration.conftest import base_image, free_port
from tests.private_engine import PrivateEngine

STACK = """\
services:
  web:
    image: {image}
    command: ["python3", "-m", "http.server", "8000"]
    ports:
      - target: 8000
        published: ${{WEB_PORT}}
        mode: host
"""


@pytest.fixture(scope="module")
def private() -> Iterator[PrivateEngine]:
    engine = PrivateEngine()
    try:
        engine.start()
        engine.load(_image())
        yield engine
    finally:
        engine.close()


def _image() -> str:
    return base_image() or "python:3.11-slim-bookworm"


class Small:
    """A project of one service (an HTTP server of the base image), nothing to build."""

    def __init__(self, root: Path, engine: PrivateEngine) -> None:
        self.name = f"sh{uuid.uuid4().hex[:8]}"
        self.root = root / self.name
        self.root.mkdir()
        self.port = free_port()
        (self.root / "stack.yml").write_text(STACK.format(image=_image()))
        (self.root / "devstack.toml").write_text(
            f'[project]\nname = "{self.name}"\nprovider = "swarm"\n\n[variables]\nWEB_PORT = "{self.port}"\n\n'
            '[swarm]\nstack_file = "stack.yml"\n')
        self.env = {**os.environ, **engine.env, "NO_COLOR": "1"}

    def devstack(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=self.root, env=self.env, text=True,
                              capture_output=True, timeout=300, check=False)

    def up(self) -> Daemon:
        return Daemon(self.root, self.env, "--web-port", "0")


def _swarm_state(engine: PrivateEngine) -> str:
    return engine.docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def test_a_swarm_in_use_is_never_left(private: PrivateEngine, tmp_path: Path) -> None:
    private.init_swarm(as_devstack=True)
    first, second = Small(tmp_path, private), Small(tmp_path, private)
    assert first.devstack("ci").returncode == 0

    # The second project is about to deploy: it joined the swarm and waits for its port, holding nothing yet.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", second.port))
        holder.listen()
        daemon = second.up()
        daemon.wait_for(f"port {second.port}.*already in use")
        down = first.devstack("down")
        assert down.returncode == 0, down.stderr
        assert "stays" in down.stdout and _swarm_state(private) == "active"
        refused = first.devstack("down", "--cluster")
        assert refused.returncode == 1
        assert f"kept the swarm: devstack is using it: pid {daemon.process.pid} in {second.root}" in refused.stderr
        assert _swarm_state(private) == "active"
    mark = daemon.mark()
    daemon.wait_for(r"retry → deployed", after=mark)
    try:
        # Now it has services: they name their project.
        refused = first.devstack("down", "--cluster")
        assert refused.returncode == 1 and f"pid {daemon.process.pid}" in refused.stderr
    finally:
        daemon.stop()
    refused = first.devstack("down", "--cluster")
    assert refused.returncode == 1
    assert f"kept the swarm: it holds services of project '{second.name}' ({second.name}_web)" in refused.stderr
    assert _swarm_state(private) == "active"

    # Another tool's object, with no project: a config made by hand.
    assert second.devstack("down").returncode == 0
    _config(private, "by-hand")
    refused = first.devstack("down", "--cluster")
    assert refused.returncode == 1
    assert "kept the swarm: it holds configs of no devstack project (by-hand)" in refused.stderr
    private.docker("config", "rm", "by-hand")

    left = first.devstack("down", "--cluster")
    assert left.returncode == 0, left.stderr
    assert "left the single-node swarm devstack had initialised" in left.stdout
    assert _swarm_state(private) == "inactive"


def test_a_swarm_devstack_did_not_initialise_is_never_left(private: PrivateEngine, tmp_path: Path) -> None:
    private.init_swarm(as_devstack=False)
    try:
        project = Small(tmp_path, private)
        assert project.devstack("ci").returncode == 0
        down = project.devstack("down", "--cluster")
        assert down.returncode == 1
        assert "kept the swarm: devstack did not initialise it" in down.stderr
        assert "removed 1 service" in down.stdout
        assert _swarm_state(private) == "active"
    finally:
        private.docker("swarm", "leave", "--force")


def _config(engine: PrivateEngine, name: str) -> None:
    result = subprocess.run(["docker", "-H", engine.host, "config", "create", name, "-"], input="x", text=True,
                            capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
