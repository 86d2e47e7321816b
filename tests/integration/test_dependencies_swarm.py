"""depends_on on the real swarm: `app` exits at start when `db` does not answer yet (as kumod does without its
throttle store). With `depends_on = ["db"]` devstack holds app at zero replicas until db is healthy, then scales it:
app's first task is its only one. A global app (no replica count to hold) is left out of the deploy until its stage,
with the same outcome. Without depends_on, the same cold ci shows app's task failing for want of db first."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import CREATED, base_image

# db answers after 4 s; its healthcheck makes swarm call it running only then.
STACK = """\
services:
  db:
    image: dep
    command:
      - python3
      - -c
      - "import time, http.server as h; time.sleep(4);
         h.HTTPServer(('0.0.0.0', 8000), h.SimpleHTTPRequestHandler).serve_forever()"
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/', timeout=1)"]
      interval: 1s
      timeout: 2s
      retries: 60
    deploy: {endpoint_mode: dnsrr}
  app:
    image: dep
    command:
      - python3
      - -c
      - "import urllib.request as u, time; u.urlopen('http://db:8000/', timeout=2);
         print('app reached db', flush=True); time.sleep(86400)"
    deploy: {endpoint_mode: dnsrr, restart_policy: {condition: any, delay: 1s}}
"""


def _project(tmp_path: Path, dependencies: bool, global_mode: bool = False) -> tuple[Path, dict[str, str], str]:
    name = f"dep{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    (root / "dep").mkdir(parents=True)
    (root / "dep" / "Dockerfile").write_text(f"FROM {base_image() or 'python:3.11-slim-bookworm'}\n")
    stack = STACK.replace("restart_policy:", "mode: global, restart_policy:") if global_mode else STACK
    (root / "stack.yml").write_text(stack)
    config = f'[project]\nname = "{name}"\n\n[images.dep]\ncontext = "dep"\n\n[swarm]\nstack_file = "stack.yml"\n'
    if dependencies:
        config += '\n[resources.app]\ndepends_on = ["db"]\n'
    (root / "devstack.toml").write_text(config)
    CREATED.append(name)
    env = {**os.environ, "NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("DEVSTACK_BASE_IMAGE", None)
    return root, env, name


def _devstack(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _app_tasks(engine: docker.DockerClient, project: str) -> list[dict[str, object]]:
    return list(engine.services.get(f"{project}_app").tasks())


@pytest.mark.parametrize(("dependencies", "global_mode"), [(True, False), (True, True), (False, False)],
                         ids=["depends_on", "global", "without"])
def test_a_dependent_starts_once_its_dependency_is_ready(tmp_path: Path, engine: docker.DockerClient,
                                                         dependencies: bool, global_mode: bool) -> None:
    root, env, project = _project(tmp_path, dependencies, global_mode)
    try:
        ci = _devstack(root, env, "ci", "--timeout", "180")
        tasks = _app_tasks(engine, project)
        if dependencies:
            assert ci.returncode == 0, ci.stdout + ci.stderr
            assert "app      waiting on db" in ci.stdout
            assert len(tasks) == 1, tasks  # started once, after db was healthy: no restart
            assert tasks[0]["Status"]["State"] == "running"  # type: ignore[index]
            logs = _devstack(root, env, "logs", "app")
            assert "app reached db" in logs.stdout
        else:  # the control: the same stack without depends_on restarts app for want of db (ci may pass once
            # swarm's restarts reach a ready db, or fail when three restarts came first)
            assert "waiting on" not in ci.stdout
            assert len(tasks) > 1, tasks
            assert "app reached db" not in "".join(_devstack(root, env, "logs", "app").stdout.splitlines()[:1])
    finally:
        down = _devstack(root, env, "down", "--images")
        assert down.returncode == 0, down.stderr


def test_a_cycle_is_refused_before_anything_runs(tmp_path: Path) -> None:
    root, env, _ = _project(tmp_path, dependencies=True)
    with (root / "devstack.toml").open("a") as config:
        config.write('\n[resources.db]\ndepends_on = ["app"]\n')
    ci = _devstack(root, env, "ci")
    assert ci.returncode == 2
    assert "devstack.toml: resources.app.depends_on: dependencies in a cycle: app → db → app" in ci.stderr
    assert "Traceback" not in ci.stderr
