"""Fixtures for tests on the real test cluster (tests/cluster: Kubernetes v1.37.2 on 127.0.0.1, started by
`make test` or `make test-cluster`): the cluster itself, and throwaway copies of the demo's Kubernetes profile.

The cluster is required, never optional: without it these tests fail, naming the command that starts it. Each
project gets its own name (and so its own namespace) and free local ports; every one is torn down afterwards, and
anything still carrying one of their labels at the end of the session is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import base_image, free_port

REPO = Path(__file__).resolve().parents[2]
CONTEXT = "devstack-test"
REGISTRY = "127.0.0.1:5001"
LABEL = "dev.devstack.project"
CREATED: list[str] = []


@dataclass(frozen=True)
class TestCluster:
    __test__ = False  # a fixture's value, not a test class

    kubeconfig: Path
    context: str = CONTEXT
    registry: str = REGISTRY

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        result = subprocess.run(["kubectl", f"--kubeconfig={self.kubeconfig}", f"--context={self.context}", *args],
                                capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def get(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.kubectl("get", *args, "-o", "json"))  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def test_cluster() -> TestCluster:
    kubeconfig = Path(os.environ.get("DEVSTACK_TEST_KUBECONFIG") or REPO / ".devstack/test-cluster/kubeconfig")
    if not kubeconfig.is_file():
        pytest.fail(f"these tests need the test cluster and its kubeconfig {kubeconfig}: run `make test-cluster` "
                    "(`make test` starts it by itself)")
    cluster = TestCluster(kubeconfig)
    result = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", "get", "--raw", "/readyz"],
                            capture_output=True, text=True, timeout=30, check=False)
    if result.stdout.strip() != "ok":
        pytest.fail(f"the test cluster does not answer ({result.stderr.strip()}): run `make test-cluster`")
    return cluster


@dataclass
class KubeProject:
    """A copy of a stack under tmp, with its own project name (its namespace) and free local ports, deployed to
    the test cluster with `--kube-context devstack-test`."""

    root: Path
    name: str
    cluster: TestCluster
    env: dict[str, str] = field(default_factory=dict)
    config: str = "devstack.toml"

    def global_options(self) -> list[str]:
        return ["--kube-context", self.cluster.context, "-f", self.config]

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "devstack", *self.global_options(), *args]

    def devstack(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), cwd=self.root, capture_output=True, text=True, timeout=timeout,
                              env=self.env, check=False)

    def port(self, variable: str) -> int:
        return int(self.env[variable])

    def secret(self, name: str) -> str:
        store = Path(self.env["XDG_STATE_HOME"]) / "devstack" / self.name / "secrets.json"
        return str(json.loads(store.read_text())[name])

    def kubectl(self, *args: str, check: bool = True) -> str:
        return self.cluster.kubectl("-n", self.name, *args, check=check)

    def pods(self, resource: str) -> list[dict]:  # type: ignore[type-arg]
        found = self.cluster.get("pods", "-n", self.name, "-l", f"dev.devstack.resource={resource}")["items"]
        return [p for p in found if not p["metadata"].get("deletionTimestamp")]

    def labelled(self) -> list[str]:
        return labelled(self.cluster, self.name)


def labelled(cluster: TestCluster, project: str) -> list[str]:
    """Every object of the usual kinds still carrying the project's label, in any namespace."""
    kinds = "all,configmaps,secrets,persistentvolumeclaims,serviceaccounts,namespaces"
    out = cluster.kubectl("get", kinds, "-A", "-l", f"{LABEL}={project}", "-o", "name", check=False)
    return [line for line in out.split() if line]


def copy_demo(tmp: Path, cluster: TestCluster) -> KubeProject:
    """The demo's Kubernetes profile (stacks/demo/k8s) with the relay, the sink and the smoke payload beside it,
    laid out as in the repository so that its relative paths hold."""
    root = tmp / "repo"
    shutil.copytree(REPO / "stacks" / "demo", root / "stacks" / "demo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sink", root / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    name = f"kt{uuid.uuid4().hex[:8]}"
    CREATED.append(name)
    profile = root / "stacks" / "demo" / "k8s" / "devstack.toml"
    profile.write_text(profile.read_text().replace('name = "demo"', f'name = "{name}"', 1))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "NO_COLOR": "1",
           "RELAY_PORT": str(free_port()), "SINK_SMTP_PORT": str(free_port()), "SINK_HTTP_PORT": str(free_port())}
    if base_image():
        env["DEVSTACK_BASE_IMAGE"] = base_image() or ""
    return KubeProject(root=root / "stacks" / "demo" / "k8s", name=name, cluster=cluster, env=env)


@pytest.fixture
def kube_demo(tmp_path: Path, test_cluster: TestCluster) -> Iterator[KubeProject]:
    project = copy_demo(tmp_path, test_cluster)
    yield project
    result = project.devstack("down", "--volumes", timeout=180)
    assert result.returncode == 0, f"down of {project.name} failed: {result.stdout}{result.stderr}"


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_on_the_cluster(test_cluster: TestCluster) -> Iterator[None]:
    yield
    cluster = test_cluster
    leaks = {name: found for name in CREATED if (found := labelled(cluster, name))}
    for name in leaks:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
    assert not leaks, f"left behind on the test cluster: {leaks}"


PROJECT = """\
[project]
name = "{name}"
provider = "kind"

[images.app]
context = "app"
args = {{ BASE = "${{DEVSTACK_BASE_IMAGE:-python:3.11-slim-bookworm}}" }}
"""
CONFIG = PROJECT + """
[kubernetes]
manifests = ["k8s/*.yaml"]
"""

DOCKERFILE = """\
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
CMD ["sh", "-c", "echo app starting; sleep 3600"]
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: {image}
{extra}"""


class AppProject:
    """A project of its own with one image, `app` (the offline base running `sleep`), and the manifests a test
    writes; deployed with `--kube-context devstack-test`."""

    def __init__(self, root: Path, cluster: TestCluster) -> None:
        self.root, self.cluster = root, cluster
        self.name = f"kf{uuid.uuid4().hex[:8]}"
        CREATED.append(self.name)
        (root / "app").mkdir(parents=True)
        (root / "app" / "Dockerfile").write_text(DOCKERFILE)
        (root / "k8s").mkdir()
        (root / "devstack.toml").write_text(CONFIG.format(name=self.name))
        self.env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "NO_COLOR": "1",
                    "DEVSTACK_BASE_IMAGE": base_image() or ""}

    def workloads(self, **deployments: str) -> None:
        """Exactly these Deployments in the manifests: name → the extra lines of its container."""
        for old in (self.root / "k8s").glob("*.yaml"):
            old.unlink()
        for name, extra in deployments.items():
            image = "app"
            if extra.startswith("image: "):
                image, extra = extra.removeprefix("image: ").split("\n", 1)[0], ""
            text = DEPLOYMENT.format(name=name, image=image, extra=textwrap.indent(textwrap.dedent(extra), " " * 10))
            (self.root / "k8s" / f"{name}.yaml").write_text(text)

    def ci(self, timeout: int = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devstack", "--kube-context", self.cluster.context, "ci",
                               "--timeout", str(timeout)], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=timeout + 120, check=False)


@pytest.fixture
def app_project(tmp_path: Path, test_cluster: TestCluster) -> Iterator[AppProject]:
    made = AppProject(tmp_path, test_cluster)
    yield made
    down = subprocess.run([sys.executable, "-m", "devstack", "--kube-context", test_cluster.context, "down"],
                          cwd=made.root, env=made.env, capture_output=True, text=True, timeout=180, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
