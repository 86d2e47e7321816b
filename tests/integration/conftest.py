"""Integration fixtures: the real Docker engine, and throwaway copies of the demo project.

Docker is required, never optional: when the engine cannot be reached these tests fail with the reason
(`make test` installs and starts it). Every project a test deploys is torn down by label afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[2]
LABEL = "dev.devstack.project"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_image() -> str | None:
    if os.environ.get("DEVSTACK_BASE_IMAGE"):
        return os.environ["DEVSTACK_BASE_IMAGE"]
    record = REPO / ".devstack" / "base-image"
    return record.read_text().strip() if record.is_file() else None


@dataclass
class Project:
    """A copy of the demo under tmp, with its own project name and free ports."""

    root: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)

    def devstack(self, *args: str, timeout: float = 300, extra_env: dict[str, str] | None = None,
                 ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=self.root, capture_output=True,
                              text=True, timeout=timeout, env={**self.env, **(extra_env or {})}, check=False)

    def status(self) -> dict[str, dict[str, object]]:
        result = self.devstack("status", "--json")
        assert result.returncode == 0, result.stderr
        return {r["name"]: r for r in json.loads(result.stdout)["resources"]}

    def port(self, name: str) -> int:
        return int(self.env[name])

    def secret(self, name: str) -> str:
        """A dev secret's value, as devstack stored it (tests keep XDG_STATE_HOME in a temporary folder)."""
        store = Path(self.env["XDG_STATE_HOME"]) / "devstack" / self.name / "secrets.json"
        return str(json.loads(store.read_text())[name])


CREATED: list[str] = []  # every project name the tests made, for the leak check at the end


def copy_demo(tmp: Path) -> Project:
    root = tmp / "demo"
    root.mkdir()
    shutil.copy(REPO / "devstack.toml", root / "devstack.toml")
    shutil.copytree(REPO / "stacks" / "demo", root / "stacks" / "demo",
                    ignore=shutil.ignore_patterns("k8s", "__pycache__"))
    shutil.copytree(REPO / "sink", root / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    name = f"it{uuid.uuid4().hex[:8]}"
    CREATED.append(name)
    text = (root / "devstack.toml").read_text().replace('name = "demo"', f'name = "{name}"', 1)
    (root / "devstack.toml").write_text(text)
    env = {**os.environ, "RELAY_PORT": str(free_port()), "SINK_SMTP_PORT": str(free_port()),
           "SINK_HTTP_PORT": str(free_port()), "NO_COLOR": "1"}
    env.pop("DEVSTACK_BASE_IMAGE", None)
    if base_image():
        # As `make demo` leaves a project: the chosen base recorded, which devstack reads by itself.
        (root / ".devstack").mkdir()
        (root / ".devstack" / "base-image").write_text(f"{base_image()}\n")
    return Project(root=root, name=name, env=env)


def labelled(engine: docker.DockerClient, project: str) -> dict[str, list[str]]:
    """Every object that still carries the project's label, by kind."""
    selector = {"label": f"{LABEL}={project}"}
    swarm = engine.info()["Swarm"].get("ControlAvailable")
    return {
        "services": [s.name for s in engine.services.list(filters=selector)] if swarm else [],
        "networks": [n.name for n in engine.networks.list(filters=selector)],
        "configs": [c.name for c in engine.configs.list(filters=selector)] if swarm else [],
        "secrets": [s.name for s in engine.secrets.list(filters=selector)] if swarm else [],
        "containers": [c.name for c in engine.containers.list(all=True, filters=selector)],
    }


@pytest.fixture
def demo(tmp_path: Path, engine: docker.DockerClient) -> Iterator[Project]:
    project = copy_demo(tmp_path)
    yield project
    tear_down(project)


def tear_down(project: Project) -> None:
    result = project.devstack("down", "--images")
    assert result.returncode == 0, f"down of {project.name} failed: {result.stdout}{result.stderr}"


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind(engine: docker.DockerClient) -> Iterator[None]:
    """The suite ends by tearing down everything it created; anything still labelled with one of its projects is
    a leak: removed here, and reported as an error."""
    yield
    leaks = {name: found for name in CREATED if any((found := labelled(engine, name)).values())}
    for name in leaks:
        _remove_labelled(engine, name)
    assert not leaks, f"left behind by the tests: {leaks}"


def _remove_labelled(engine: docker.DockerClient, project: str) -> None:
    selector = {"label": f"{LABEL}={project}"}
    for kind in ("services", "containers", "networks", "configs", "secrets"):
        try:
            objects = getattr(engine, kind).list(**({"all": True} if kind == "containers" else {}), filters=selector)
            for obj in objects:
                obj.remove(**({"force": True} if kind == "containers" else {}))
        except docker.errors.APIError:
            continue
