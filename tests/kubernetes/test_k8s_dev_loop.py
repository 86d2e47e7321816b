"""`devstack up` on a Kubernetes provider, end to end: the daemon builds the demo's images with the real Docker
engine, applies them to the fake API server (whose simulated cluster plays the controllers and the kubelet),
forwards a port to the pod, live-updates through exec, rolls out a rebuilt image, and `down` leaves nothing.

Provider `context` shares this Docker engine with its cluster, so no image is loaded anywhere; every other step is
the one a kind or k3d cluster gets."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from fakekube_store import Json
from k8s_env import Env, exchange

from tests.daemon import Daemon
from tests.integration.conftest import base_image, free_port

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "stacks" / "demo"

CONFIG = """\
[project]
name = "{name}"
provider = "context"

[images.relay]
context = "relay"
args = {{ BASE = "${{DEVSTACK_BASE_IMAGE:-python:3.11-slim-bookworm}}" }}

[images.relay.live_update]
sync = [{{ local = "relay/relay.py", remote = "/app/relay.py" }}]
restart = ["sh", "-c", "kill -HUP 1"]

[images.sink]
context = "sink"
args = {{ BASE = "${{DEVSTACK_BASE_IMAGE:-python:3.11-slim-bookworm}}" }}

[kubernetes]
context = "kind-demo"
manifests = ["k8s/*.yaml"]

[secrets.inject-password]
length = 24
key = "password"

[[forwards]]
resource = "relay"
local = {port}
remote = 8000
"""


class Project:
    def __init__(self, env: Env) -> None:
        self.name = f"k8s{uuid.uuid4().hex[:8]}"
        self.root, self.store, self.port = env.root, env.kube.store, free_port()
        shutil.copytree(DEMO / "relay", self.root / "relay", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / "sink", self.root / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        (self.root / "k8s").mkdir(exist_ok=True)
        for manifest in ("relay.yaml", "sink.yaml"):
            shutil.copy(DEMO / "k8s" / manifest, self.root / "k8s" / manifest)
        (self.root / "devstack.toml").write_text(CONFIG.format(name=self.name, port=self.port), encoding="utf-8")
        # The env fixture has put KUBECONFIG (the fake's) and XDG_STATE_HOME into os.environ.
        self.env = {**os.environ, "NO_COLOR": "1", "DEVSTACK_BASE_IMAGE": base_image() or ""}

    def devstack(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)

    def deployment(self, name: str) -> Json | None:
        return self.store.get(self.store.kind_of("Deployment"), self.name, name)

    def image(self, deployment: str) -> str:
        found = self.deployment(deployment)
        assert found is not None, f"no Deployment {deployment!r} in namespace {self.name!r}"
        return str(found["spec"]["template"]["spec"]["containers"][0]["image"])

    def pod(self, deployment: str) -> Json:
        pods = [p for p in self.store.list(self.store.kind_of("Pod"), self.name)
                if p["metadata"]["ownerReferences"][0]["name"] == deployment]
        assert len(pods) == 1, f"expected one pod of {deployment}, found {[p['metadata']['name'] for p in pods]}"
        return pods[0]

    def follows_rollout(self, deployment: str, old_pod: str) -> str:
        """The pod that replaced `old_pod`, once the port forward reaches it."""
        eventually(lambda: self.pod(deployment)["metadata"]["name"] != old_pod, f"a new {deployment} pod")
        new_pod = str(self.pod(deployment)["metadata"]["name"])
        eventually(lambda: exchange(self.port, b"again") == f"{new_pod}|again".encode(),
                   f"the forward reaching {new_pod}")
        return new_pod

    def labelled(self) -> list[str]:
        """Every object in the fake cluster that still carries the project's label."""
        return [f"{kind.kind}/{obj['metadata']['name']}" for kind in list(self.store.kinds.values())
                for obj in self.store.list(kind, None)
                if (obj["metadata"].get("labels") or {}).get("dev.devstack.project") == self.name]


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Wait for `check`; in the middle of a rollout it may also fail (no pod for a moment, a refused forward)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, OSError):
            if check():
                return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


@pytest.fixture
def project(env: Env, engine: docker.DockerClient) -> Iterator[Project]:
    made = Project(env)
    yield made
    down = made.devstack("down", "--images")
    assert down.returncode == 0, down.stdout + down.stderr
    assert made.labelled() == [], "down left objects in the cluster"
    assert engine.images.list(filters={"label": f"dev.devstack.project={made.name}"}) == []


def test_up_deploys_forwards_live_updates_and_rolls_out_a_rebuild(project: Project) -> None:
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for("watching for changes")
        relay_image = project.image("relay")
        assert re.fullmatch(r"relay:[0-9a-f]{16}", relay_image) and project.image("sink").startswith("sink:")
        first = project.pod("relay")["metadata"]["name"]
        eventually(lambda: exchange(project.port, b"ping") == f"{first}|ping".encode(), "the forward to the pod")

        status = project.devstack("status", "--json")
        assert status.returncode == 0, status.stderr
        resources = {r["name"]: r for r in json.loads(status.stdout)["resources"]}
        assert resources["relay"]["ready"] and resources["sink"]["ready"]

        # An edited manifest is applied again without a build; the rollout gets a new pod, and the forward follows.
        mark = daemon.mark()
        manifest = project.root / "k8s" / "relay.yaml"
        manifest.write_text(manifest.read_text().replace('value: "2525"', 'value: "2600"', 1))
        daemon.wait_for(rf"{project.name} +manifests changed → deployed", after=mark)
        env = project.deployment("relay")["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
        assert {"name": "SINK_PORT", "value": "2600"} in env
        assert project.image("relay") == relay_image
        second = project.follows_rollout("relay", first)

        # Live update: the saved file goes into the running container by exec + tar, then the restart command.
        mark = daemon.mark()
        relay_py = project.root / "relay" / "relay.py"
        relay_py.write_text(relay_py.read_text() + "\n# edited by the test\n")
        daemon.wait_for(r"relay .*1 file changed → synced to 1 container\(s\)", after=mark)
        assert project.store.files[(project.name, second, "relay")]["/app/relay.py"] == relay_py.read_bytes()
        assert (second, "relay", ["sh", "-c", "kill -HUP 1"]) in project.store.execs
        assert project.image("relay") == relay_image, "a live update must not roll out a new image"

        # Any other change in the image's context rebuilds it and rolls the Deployment out.
        mark = daemon.mark()
        with (project.root / "relay" / "Dockerfile").open("a") as dockerfile:
            dockerfile.write("# edited by the test\n")
        daemon.wait_for(r"relay .*1 file changed → built [\d.]+s → updated", after=mark)
        assert project.image("relay") != relay_image
        project.follows_rollout("relay", second)
    finally:
        stopped = daemon.stop()  # also when a step above failed: no daemon outlives its test
    assert stopped == 0, "\n".join(daemon.lines[-30:])
    with pytest.raises(ConnectionRefusedError):  # Ctrl-C stopped the forward too
        socket.create_connection(("127.0.0.1", project.port), timeout=2).close()
    # Ctrl-C leaves the stack running; the fixture's `down` removes it.
    assert {"Deployment/relay", "Deployment/sink", "Secret/inject-password"} <= set(project.labelled())
