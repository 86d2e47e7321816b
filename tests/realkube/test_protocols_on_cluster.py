"""What moved in Kubernetes since 1.20, met on the real server: exec over v5.channel.k8s.io (stdin closed cleanly)
with v4.channel.k8s.io as the fallback, the server's warnings shown once in one line, PodSecurity admission on the
namespaces devstack creates, and the RBAC verbs that websocket exec and port-forward need from 1.35."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.errors import DeployError
from devstack.providers.kubernetes import api as kube_api
from devstack.providers.kubernetes import livesync
from tests.realkube.conftest import AppProject, TestCluster

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"


def deployed(app_project: AppProject, **extra: str) -> str:
    """Deploy one sleeping `app` Deployment (plus `extra`); the name of its pod."""
    app_project.workloads(app="", **extra)
    result = app_project.ci()
    assert result.returncode == 0, result.stdout + result.stderr
    pods = app_project.cluster.get("pods", "-n", app_project.name, "-l", "dev.devstack.resource=app")["items"]
    return str(pods[0]["metadata"]["name"])


def connect(cluster: TestCluster, kubeconfig: Path | None = None) -> kube_api.Api:
    return kube_api.connect(cluster.context, kubeconfig or cluster.kubeconfig)


def test_exec_speaks_v5_and_the_command_sees_the_end_of_its_input(app_project: AppProject) -> None:
    pod = deployed(app_project)
    data = b"x" * 300_000  # several websocket frames
    # `wc -c` ends only when its stdin does: with v4 this command would wait for input forever.
    count = f'n=$(wc -c); [ "$n" -eq {len(data)} ] || {{ echo "got $n" >&2; exit 3; }}'
    outcome = livesync.execute(connect(app_project.cluster), app_project.name, pod, "main", ["sh", "-c", count], data,
                               "counting stdin")
    assert (outcome.protocol, outcome.failure, outcome.detail) == (V5, "", "")


def test_exec_falls_back_to_v4_and_live_update_still_copies(app_project: AppProject, tmp_path: Path) -> None:
    pod = deployed(app_project)
    api = connect(app_project.cluster)
    # A server before 1.29 knows only v4: offered alone, it is what this one speaks too.
    outcome = livesync.execute(api, app_project.name, pod, "main", ["true"], None, "true", protocols=(V4,))
    assert (outcome.protocol, outcome.failure) == (V4, "")
    note = tmp_path / "note.txt"
    note.write_text("copied over v4\n")
    # Copy and restart in one exec: tar stops at its archive's end marker, as v4 cannot close stdin.
    livesync.sync_files(api, app_project.name, pod, "main", [(note, "/tmp/note.txt")], ["test", "-s", "/tmp/note.txt"],
                        protocols=(V4,))
    copied = app_project.cluster.kubectl("exec", "-n", app_project.name, pod, "--", "cat", "/tmp/note.txt")
    assert copied == "copied over v4\n"


SECCOMP_ANNOTATED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      # Non-functional since 1.27: the API server accepts it, and warns at every apply.
      annotations: {{seccomp.security.alpha.kubernetes.io/pod: runtime/default}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: main, image: app}}]
"""


def test_a_deprecation_warning_of_the_server_is_shown_once_in_one_line(app_project: AppProject) -> None:
    app_project.workloads()
    for name in ("first", "second"):
        (app_project.root / "k8s" / f"{name}.yaml").write_text(SECCOMP_ANNOTATED.format(name=name))
    result = app_project.ci()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warned = [line for line in output.splitlines() if "seccomp.security.alpha.kubernetes.io/pod" in line]
    assert len(warned) == 1, output
    assert "warning: the API server warns:" in warned[0] and "non-functional in v1.27+" in warned[0]
    assert "k8s/first.yaml#1 (Deployment first)" in warned[0] and "k8s/second.yaml#1 (Deployment second)" in warned[0]
    assert "Warning:" not in output, "no raw warning of a client library"


def test_no_warning_where_the_manifests_give_no_cause(app_project: AppProject) -> None:
    app_project.workloads(plain="ports: [{containerPort: 8080}]\n")
    (app_project.root / "k8s" / "service.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: plain}\nspec:\n  selector: {app: plain}\n"
        "  ports: [{port: 80, targetPort: 8080}]\n")
    result = app_project.ci()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # devstack's own reads (EndpointSlices, not the deprecated v1 Endpoints) draw none either.
    assert "warn" not in output.lower(), output


def test_pods_in_a_namespace_devstack_created_run_under_pod_security_admission(app_project: AppProject) -> None:
    deployed(app_project)
    namespace = app_project.cluster.get("namespace", app_project.name)
    labels = namespace["metadata"].get("labels") or {}
    assert not any(key.startswith("pod-security.kubernetes.io/") for key in labels), "no level set: the default"
    # Admission is on: asked to enforce `restricted`, the server (dry run) names the running pod that breaks it,
    # which it admitted at the default level, `privileged`, as a kind cluster does.
    restricted = "pod-security.kubernetes.io/enforce=restricted"
    dry = subprocess.run(["kubectl", f"--kubeconfig={app_project.cluster.kubeconfig}", "label", "--dry-run=server",
                          "--overwrite", "namespace", app_project.name, restricted],
                         capture_output=True, text=True, timeout=60, check=False)
    assert dry.returncode == 0, dry.stderr
    assert "violate the new PodSecurity enforce level" in dry.stderr and "app-" in dry.stderr, dry.stderr


RBAC = """\
apiVersion: v1
kind: ServiceAccount
metadata: {{name: developer}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: developer}}
rules:
  - {{apiGroups: [""], resources: [pods, services], verbs: [get, list, watch]}}
  - {{apiGroups: [""], resources: [pods/exec, pods/portforward], verbs: [{verbs}]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: developer}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: developer}}
subjects: [{{kind: ServiceAccount, name: developer}}]
"""


def developer_kubeconfig(cluster: TestCluster, namespace: str, folder: Path) -> Path:
    """A kubeconfig for the namespace's `developer` service account, by a token of the TokenRequest API (no token
    Secret is created for a service account any more)."""
    token = cluster.kubectl("create", "token", "developer", "-n", namespace, "--duration=10m").strip()
    admin = json.loads(cluster.kubeconfig.read_text())
    config = {**admin, "users": [{"name": "developer", "user": {"token": token}}],
              "contexts": [{"name": cluster.context, "context": {"cluster": cluster.context, "user": "developer",
                                                                  "namespace": namespace}}]}
    path = folder / "developer.kubeconfig"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("verbs", ["get", "get, create"])
def test_exec_and_port_forward_need_create_on_their_subresources(app_project: AppProject, tmp_path: Path,
                                                                 verbs: str) -> None:
    pod = deployed(app_project)
    subprocess.run(["kubectl", f"--kubeconfig={app_project.cluster.kubeconfig}", "apply", "-n", app_project.name,
                    "-f", "-"], input=RBAC.format(verbs=verbs), text=True, check=True, capture_output=True)
    api = connect(app_project.cluster, developer_kubeconfig(app_project.cluster, app_project.name, tmp_path))
    forward = [sys.executable, "-c", FORWARD, app_project.name, pod, app_project.name]
    env = {"KUBECONFIG": str(tmp_path / "developer.kubeconfig"), "PATH": "/usr/bin:/bin"}
    if verbs == "get":
        # Until 1.35 `get` was enough for a websocket; now it takes `create` too, and devstack says what is missing.
        with pytest.raises(DeployError, match=r"forbidden.*exec needs the verbs get and create on pods/exec"):
            livesync.execute(api, app_project.name, pod, "main", ["true"], None, "exec")
        done = subprocess.run(forward, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1 and "forbidden" in done.stdout.lower(), done.stdout + done.stderr
        return
    assert livesync.execute(api, app_project.name, pod, "main", ["true"], None, "exec").failure == ""
    done = subprocess.run(forward, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "forwarded", done.stdout + done.stderr


# A port forward as devstack opens one (the SPDY tunnel through a websocket, Kubernetes 1.30 and later), to a port
# nothing listens on: the server accepts the tunnel (the RBAC check passed) and the pod's side reports the refused
# connection on the pair's error stream.
FORWARD = """\
import asyncio, sys
from devstack.errors import DeployError
from devstack import labels
from devstack.providers.kubernetes import api, portforward
from devstack.providers.kubernetes.discovery import Discovery
from devstack.providers.kubernetes.watchcache import WatchCache
async def main() -> int:
    client = api.connect("devstack-test", None)
    cache = WatchCache(client, Discovery(client), labels.selector(sys.argv[3]))  # the pod lookup reads it
    forwarder = portforward.Forwarder(cache)
    target = portforward.Target(sys.argv[1], "pod/" + sys.argv[2], 9)
    try:
        channel = await forwarder.connect(target)
    except DeployError as err:
        print(err)
        cache.close()
        return 1
    try:
        await channel.write(b"ping")
        try:
            await channel.read()
        except DeployError:
            pass  # nothing listens on port 9: the stream itself was allowed
        await channel.close()
    finally:
        await forwarder.close()
        cache.close()
    print("forwarded")
    return 0
sys.exit(asyncio.run(main()))
"""
