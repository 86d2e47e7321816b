"""devstack disable / enable on the real swarm: a disabled resource is removed (its volume kept) while the rest keeps
running, the choice persists for the project and shows in status, enabling brings it back; with `devstack up`
running the daemon does it, and says so on the board."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker

from tests.daemon import Daemon
from tests.integration.conftest import CREATED, base_image

STACK = """\
services:
  db:
    image: sw
    command: ["sh", "-c", "date >> /data/started; sleep 86400"]
    volumes: [data:/data]
  app:
    image: sw
    command: ["sleep", "86400"]
volumes:
  data: {}
"""


def _project(tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    name = f"sw{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    (root / "sw").mkdir(parents=True)
    (root / "sw" / "Dockerfile").write_text(f"FROM {base_image() or 'python:3.11-slim-bookworm'}\n")
    (root / "stack.yml").write_text(STACK)
    (root / "devstack.toml").write_text(f'[project]\nname = "{name}"\n\n[images.sw]\ncontext = "sw"\n\n'
                                        '[swarm]\nstack_file = "stack.yml"\n')
    CREATED.append(name)
    env = {**os.environ, "NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("DEVSTACK_BASE_IMAGE", None)
    return root, env, name


def _devstack(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _services(engine: docker.DockerClient, project: str) -> set[str]:
    return {s.name.removeprefix(f"{project}_")
            for s in engine.services.list(filters={"label": f"dev.devstack.project={project}"})}


def test_disable_and_enable_without_and_with_up(tmp_path: Path, engine: docker.DockerClient) -> None:
    root, env, project = _project(tmp_path)
    try:
        assert _devstack(root, env, "ci", "--timeout", "120").returncode == 0
        app_id = engine.services.get(f"{project}_app").id
        off = _devstack(root, env, "disable", "db")
        assert off.returncode == 0, off.stdout + off.stderr
        assert "disabled db; applying it" in off.stdout
        assert _services(engine, project) == {"app"}
        assert engine.services.get(f"{project}_app").id == app_id  # the rest kept running, untouched
        assert engine.volumes.get(f"{project}_data")  # its volume kept
        assert json.loads((root / ".devstack" / "disabled.json").read_text()) == ["db"]
        status = _devstack(root, env, "status")
        assert "db       disabled: devstack enable db" in status.stdout
        again = _devstack(root, env, "disable", "db")
        assert again.returncode == 0 and "nothing to change" in again.stdout
        wrong = _devstack(root, env, "disable", "dbx")
        assert wrong.returncode == 2 and "no resource named 'dbx'" in wrong.stderr
        on = _devstack(root, env, "enable", "db")
        assert on.returncode == 0, on.stdout + on.stderr
        assert _services(engine, project) == {"app", "db"}
        daemon = Daemon(root, env)
        try:
            daemon.wait_for("watching for changes")
            mark = daemon.mark()
            assert _devstack(root, env, "disable", "app").returncode == 0
            daemon.wait_for(r"disabled app", after=mark)
            deadline = time.monotonic() + 30
            while "app" in _services(engine, project) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _services(engine, project) == {"db"}
            board = json.loads(_devstack(root, env, "status", "--json").stdout)
            assert {r["name"]: r["disabled"] for r in board["resources"]}["app"] is True
            assert _devstack(root, env, "enable", "--all").returncode == 0
            daemon.wait_for(r"enabled app", after=mark)
            while "app" not in _services(engine, project) and time.monotonic() < deadline + 30:
                time.sleep(0.5)
            assert _services(engine, project) == {"app", "db"}
        finally:
            daemon.stop()
    finally:
        _devstack(root, env, "down", "--volumes", "--images")
