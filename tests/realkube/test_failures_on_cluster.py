"""Readiness failures provoked for real on the test cluster, each reported by `devstack ci` with its reason and,
where a container ran, its last log lines; and the other ways a deploy goes wrong: objects pruned when they leave
the manifests, and a server-side apply conflict with another field manager."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.config import loader
from devstack.config.kubernetes import on_context
from devstack.errors import DeployError
from devstack.providers import registry
from devstack.providers.base import Provider
from tests.realkube.conftest import AppProject


def failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, f"expected a failure (exit 1):\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_an_image_that_does_not_exist(app_project: AppProject) -> None:
    app_project.workloads(ghost=f"image: {app_project.cluster.registry}/devstack-test/no-such-image:1")
    started = time.monotonic()
    output = failure(app_project.ci(timeout=120))
    assert time.monotonic() - started < 90, "a pull that cannot succeed ends the wait, not the timeout"
    assert "ghost: not ready" in output
    assert "ImagePullBackOff" in output or "ErrImagePull" in output, output
    assert "no-such-image" in output
    # Its log: the container never started, and devstack says so in its own words, not in the API server's.
    logs = subprocess.run([sys.executable, "-m", "devstack", "--kube-context", app_project.cluster.context, "logs",
                           "ghost"], cwd=app_project.root, env=app_project.env, capture_output=True, text=True,
                          timeout=120, check=False)
    said = logs.stdout + logs.stderr
    assert logs.returncode == 0, said
    assert re.search(r"log of ghost-\S+/main: not started yet \((ImagePullBackOff|ErrImagePull)\)", said), said
    assert "waiting to start" not in said, said


def test_a_container_that_exits(app_project: AppProject) -> None:
    # With no probe at all a container counts as ready the moment it starts, and the rollout may be complete for
    # an instant before it exits (`kubectl rollout status` agrees); a probe, as real workloads have, rules that out.
    app_project.workloads(crasher="""\
        command: ["sh", "-c", "echo about to fail: missing SETTING; exit 3"]
        readinessProbe:
          exec: {command: ["true"]}
          initialDelaySeconds: 5
        """)
    output = failure(app_project.ci())
    assert "crasher: not ready" in output and "CrashLoopBackOff" in output, output
    assert "last exit code 3" in output
    assert "| about to fail: missing SETTING" in output, "the crashed container's own last log lines"


def test_a_container_without_a_probe_that_exits_at_once_fails_ci(app_project: AppProject) -> None:
    # Ready the instant it runs, then gone: ci's verdict waits until everything has stayed ready 2 s, by the
    # cluster's own record of when it became ready (a warm ci of pods ready for minutes need not wait).
    app_project.workloads(quitter="""\
        command: ["sh", "-c", "echo quitting at once; exit 3"]
        """)
    output = failure(app_project.ci())
    assert "quitter: not ready" in output, output
    assert "| quitting at once" in output, "the exited container's own last log lines"


def test_a_request_no_node_can_satisfy(app_project: AppProject) -> None:
    app_project.workloads(greedy="""\
        resources:
          requests: {cpu: "64"}
        """)
    output = failure(app_project.ci())
    assert "greedy: not ready" in output and "Pending" in output, output
    assert "Insufficient cpu" in output, "the scheduler's own message"


def test_a_failing_readiness_probe(app_project: AppProject) -> None:
    app_project.workloads(unready="""\
        readinessProbe:
          exec: {command: ["sh", "-c", "echo database unreachable >&2; exit 1"]}
          periodSeconds: 1
        """)
    output = failure(app_project.ci(timeout=60))  # long enough for the pod to start on a busy machine
    assert re.search(r"unready: not ready: not ready after \d+s", output), output
    assert "Readiness probe failed" in output and "database unreachable" in output
    assert "| app starting" in output, "the pod's last log lines"


def test_objects_leaving_the_manifests_are_pruned(app_project: AppProject) -> None:
    app_project.workloads(first="", second="")
    result = app_project.ci()
    assert result.returncode == 0, result.stdout + result.stderr
    app_project.workloads(second="")
    result = app_project.ci()
    assert result.returncode == 0, result.stdout + result.stderr
    names = app_project.cluster.kubectl("get", "deployments", "-n", app_project.name, "-o", "name").split()
    assert names == ["deployment.apps/second"]


def test_a_field_another_manager_owns_is_a_clear_conflict(app_project: AppProject) -> None:
    app_project.workloads(shared="")
    assert app_project.ci().returncode == 0
    # Someone changes it by hand; devstack's next apply sets replicas too, and must not silently take it back.
    app_project.cluster.kubectl("patch", "deployment/shared", "-n", app_project.name, "-p", '{"spec": {"replicas": 2}}')
    app_project.workloads(shared="env: [{name: EDITED, value: '1'}]\n")
    output = failure(app_project.ci())
    assert "conflict" in output.lower() and ".spec.replicas" in output, output
    assert "kubectl" in output, "the other field manager is named"
    replicas = app_project.cluster.kubectl("get", "deployment/shared", "-n", app_project.name,
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


def test_down_keeps_claims_and_their_data_unless_asked(app_project: AppProject) -> None:
    app_project.workloads()
    (app_project.root / "k8s" / "keeper.yaml").write_text(KEEPER)
    result = app_project.ci()
    assert result.returncode == 0, result.stdout + result.stderr

    def down(*flags: str) -> str:
        done = subprocess.run([sys.executable, "-m", "devstack", "--kube-context", app_project.cluster.context, "down",
                               *flags], cwd=app_project.root, env=app_project.env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    assert "kept 1 PersistentVolumeClaim" in down()
    left = app_project.cluster.kubectl("get", "all,pvc", "-n", app_project.name, "-o", "name").split()
    assert left == ["persistentvolumeclaim/data"], left
    down("--volumes")
    gone = app_project.cluster.kubectl("get", "namespace", app_project.name, "--ignore-not-found", "-o", "name")
    assert gone.strip() == ""


def deployed_for_live_update(app_project: AppProject, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path) -> tuple[Provider, Path]:
    """The project deployed by ci, a provider of its own (prepared, to be closed), and a file to sync."""
    ci = app_project.ci()
    assert ci.returncode == 0, ci.stdout + ci.stderr
    monkeypatch.setenv("KUBECONFIG", str(app_project.cluster.kubeconfig))
    config = on_context(loader.load(app_project.root / "devstack.toml", environ=app_project.env),
                        app_project.cluster.context)
    provider = registry.create(config)
    provider.prepare()
    note = tmp_path / "note.txt"
    note.write_text("synced by devstack\n")
    return provider, note


def test_live_update_failures_name_their_step(app_project: AppProject, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """Live update on a real runtime: copy and restart go in one exec, and the step that fails is the one named."""
    app_project.workloads(nobody="securityContext: {runAsUser: 65534, runAsGroup: 65534}\n")
    provider, note = deployed_for_live_update(app_project, monkeypatch, tmp_path)
    try:
        # The container's user (nobody) cannot write under /etc: the copy fails, says why and what to do.
        with pytest.raises(DeployError) as caught:
            provider.sync("app", [(note, "/etc/devstack-note.txt")], ["true"])
        message = str(caught.value)
        assert re.match(r"copying 1 file\(s\) into pod nobody-\S+ container main failed: exit code 2", message), message
        assert "Permission denied" in message and "writes as the container's user" in message
        # Where it may write, the copy goes in and the restart command runs after it, in the same exec.
        with pytest.raises(DeployError) as caught:
            provider.sync("app", [(note, "/tmp/devstack-note.txt")], ["sh", "-c", "cat /tmp/devstack-note.txt; exit 4"])
        message = str(caught.value)
        assert re.match(r"running `sh -c cat /tmp/devstack-note.txt; exit 4` in pod nobody-\S+ container main "
                        r"failed: exit code 4", message), message
        assert provider.sync("app", [(note, "/tmp/devstack-note.txt")], ["test", "-s", "/tmp/devstack-note.txt"])
    finally:
        provider.close()


def test_a_live_update_racing_a_rollout_updates_the_pods_that_remain(app_project: AppProject,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """A save just after a rollout: the watch may still list the old pod, which is gone when its exec goes out.
    That pod is passed over, the new one updated, and nothing fails."""
    app_project.workloads(app="")
    provider, note = deployed_for_live_update(app_project, monkeypatch, tmp_path)
    try:
        (old,) = [p for p in provider.view.objects("Pod") if p["metadata"]["name"].startswith("app-")]
        kubectl = app_project.cluster.kubectl
        kubectl("delete", "pod", "-n", app_project.name, old["metadata"]["name"], "--wait=true")
        kubectl("rollout", "status", "-n", app_project.name, "deployment/app", "--timeout=120s")
        current = provider.view.objects
        monkeypatch.setattr(provider.view, "objects", lambda kind: [old, *current(kind)] if kind == "Pod"
                            else current(kind))  # the watch, not yet told of the old pod's end
        updated = provider.sync("app", [(note, "/tmp/devstack-note.txt")], ["test", "-s", "/tmp/devstack-note.txt"])
        (new,) = [p["metadata"]["name"] for p in current("Pod") if p["metadata"]["name"].startswith("app-")]
        assert updated == [f"{new}/main"] and new != old["metadata"]["name"], updated
    finally:
        provider.close()
