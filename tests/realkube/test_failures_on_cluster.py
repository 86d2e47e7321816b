"""Readiness failures provoked for real on the test cluster, each reported by `devstack ci` with its reason and,
where a container ran, its last log lines; and the other ways a deploy goes wrong: objects pruned when they leave
the manifests, and a server-side apply conflict with another field manager."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import base_image
from tests.realkube.conftest import CREATED, TestCluster

CONFIG = """\
[project]
name = "{name}"
provider = "kind"

[images.app]
context = "app"
args = {{ BASE = "${{DEVSTACK_BASE_IMAGE:-python:3.11-slim-bookworm}}" }}

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


class Project:
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
def project(tmp_path: Path, test_cluster: TestCluster) -> Iterator[Project]:
    made = Project(tmp_path, test_cluster)
    yield made
    down = subprocess.run([sys.executable, "-m", "devstack", "--kube-context", test_cluster.context, "down"],
                          cwd=made.root, env=made.env, capture_output=True, text=True, timeout=180, check=False)
    assert down.returncode == 0, down.stdout + down.stderr


def failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, f"expected a failure (exit 1):\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_an_image_that_does_not_exist(project: Project) -> None:
    project.workloads(ghost=f"image: {project.cluster.registry}/devstack-test/no-such-image:1")
    started = time.monotonic()
    output = failure(project.ci(timeout=120))
    assert time.monotonic() - started < 90, "a pull that cannot succeed ends the wait, not the timeout"
    assert "ghost: not ready" in output
    assert "ImagePullBackOff" in output or "ErrImagePull" in output, output
    assert "no-such-image" in output


def test_a_container_that_exits(project: Project) -> None:
    # With no probe at all a container counts as ready the moment it starts, and the rollout may be complete for
    # an instant before it exits (`kubectl rollout status` agrees); a probe, as real workloads have, rules that out.
    project.workloads(crasher="""\
        command: ["sh", "-c", "echo about to fail: missing SETTING; exit 3"]
        readinessProbe:
          exec: {command: ["true"]}
          initialDelaySeconds: 5
        """)
    output = failure(project.ci())
    assert "crasher: not ready" in output and "CrashLoopBackOff" in output, output
    assert "last exit code 3" in output
    assert "| about to fail: missing SETTING" in output, "the crashed container's own last log lines"


def test_a_request_no_node_can_satisfy(project: Project) -> None:
    project.workloads(greedy="""\
        resources:
          requests: {cpu: "64"}
        """)
    output = failure(project.ci())
    assert "greedy: not ready" in output and "Pending" in output, output
    assert "Insufficient cpu" in output, "the scheduler's own message"


def test_a_failing_readiness_probe(project: Project) -> None:
    project.workloads(unready="""\
        readinessProbe:
          exec: {command: ["sh", "-c", "echo database unreachable >&2; exit 1"]}
          periodSeconds: 1
        """)
    output = failure(project.ci(timeout=60))  # long enough for the pod to start on a busy machine
    assert re.search(r"unready: not ready: not ready after \d+s", output), output
    assert "Readiness probe failed" in output and "database unreachable" in output
    assert "| app starting" in output, "the pod's last log lines"


def test_objects_leaving_the_manifests_are_pruned(project: Project) -> None:
    project.workloads(first="", second="")
    result = project.ci()
    assert result.returncode == 0, result.stdout + result.stderr
    project.workloads(second="")
    result = project.ci()
    assert result.returncode == 0, result.stdout + result.stderr
    names = project.cluster.kubectl("get", "deployments", "-n", project.name, "-o", "name").split()
    assert names == ["deployment.apps/second"]


def test_a_field_another_manager_owns_is_a_clear_conflict(project: Project) -> None:
    project.workloads(shared="")
    assert project.ci().returncode == 0
    # Someone changes it by hand; devstack's next apply sets replicas too, and must not silently take it back.
    project.cluster.kubectl("patch", "deployment/shared", "-n", project.name, "-p", '{"spec": {"replicas": 2}}')
    project.workloads(shared="env: [{name: EDITED, value: '1'}]\n")
    output = failure(project.ci())
    assert "conflict" in output.lower() and ".spec.replicas" in output, output
    assert "kubectl" in output, "the other field manager is named"
    replicas = project.cluster.kubectl("get", "deployment/shared", "-n", project.name,
                                       "-o", "jsonpath={.spec.replicas}")
    assert replicas == "2"


KEEPER = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keeper}
spec:
  selector: {matchLabels: {app: keeper}}
  template:
    metadata: {labels: {app: keeper}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: app
          command: ["sh", "-c", "echo kept > /data/proof; sleep 3600"]
          volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"""


def test_down_keeps_claims_and_their_data_unless_asked(project: Project) -> None:
    project.workloads()
    (project.root / "k8s" / "keeper.yaml").write_text(KEEPER)
    result = project.ci()
    assert result.returncode == 0, result.stdout + result.stderr

    def down(*flags: str) -> str:
        done = subprocess.run([sys.executable, "-m", "devstack", "--kube-context", project.cluster.context, "down",
                               *flags], cwd=project.root, env=project.env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    assert "kept 1 PersistentVolumeClaim" in down()
    left = project.cluster.kubectl("get", "all,pvc", "-n", project.name, "-o", "name").split()
    assert left == ["persistentvolumeclaim/data"], left
    down("--volumes")
    gone = project.cluster.kubectl("get", "namespace", project.name, "--ignore-not-found", "-o", "name")
    assert gone.strip() == ""
