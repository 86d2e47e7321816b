"""The KumoMTA stack on the real test cluster, as a KumoMTA developer runs it: `devstack ci`, then `devstack up`
with an injection of 10 recipients, mail to an outside domain through kumod's SMTP listener, `kumod --validate` in
a pod, `devstack run queues` (kcli in a pod) and a policy edit that rolls the MTAs, then `down` (PVCs kept) and
`down --volumes`.

Both variants: the offline one (devstack.toml, the stand-ins), and the upstream one (upstream.toml) on KumoMTA's
pinned image. That image cannot be pulled here; it runs when it is in the local engine (built by hand from
KumoMTA's source, see stacks/kumomta/README.md), and dragonfly's place is taken by Debian's redis-server behind an
entrypoint that ignores dragonfly's flags."""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from devstack.config import loader
from devstack.images import package_base
from tests.daemon import Daemon
from tests.integration.conftest import base_image, free_port
from tests.realkube.conftest import CREATED, KubeProject, TestCluster
from tests.realkube.test_demo_on_cluster import eventually

REPO = Path(__file__).resolve().parents[2]
PORTS = ("KUMOMTA_HTTP_PORT", "KUMOMTA_ADMIN_PORT", "KUMOMTA_SMTP_PORT", "KUMOMTA_TSA_PORT", "KUMOMTA_SINK_HTTP_PORT")
KUMOMTA_IMAGE = "ghcr.io/kumocorp/kumomta:2025.01.29-833f82a8"
CONFIGS = {"offline": "devstack.toml", "upstream": "upstream.toml"}
# dragonfly's Deployment passes dragonfly's flags, which redis-server refuses: this entrypoint drops them.
STORE_DOCKERFILE = """FROM {base}
USER redis
ENTRYPOINT ["/bin/sh", "-c", "exec redis-server --bind 0.0.0.0 --port 6379 --protected-mode no --save '' \\
--appendonly no", "--"]
"""
TEN = [{"email": f"user{i}@example.test", "name": f"User {i}"} for i in range(10)]


def copy_kumomta(tmp: Path, cluster: TestCluster, variant: str) -> KubeProject:
    """stacks/kumomta with what its images need beside it (the demo relay, the sink), laid out as in the
    repository, under its own project name (its namespace) and free local ports."""
    root = tmp / "repo"
    shutil.copytree(REPO / "stacks" / "kumomta", root / "stacks" / "kumomta",
                    ignore=shutil.ignore_patterns("__pycache__", ".devstack"))
    shutil.copytree(REPO / "stacks" / "demo" / "relay", root / "stacks" / "demo" / "relay",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sink", root / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    name = f"kk{uuid.uuid4().hex[:8]}"
    CREATED.append(name)
    config = root / "stacks" / "kumomta" / CONFIGS[variant]
    config.write_text(config.read_text().replace('name = "kumomta"', f'name = "{name}"', 1))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "NO_COLOR": "1",
           **{port: str(free_port()) for port in PORTS}}
    if base_image():
        env["DEVSTACK_BASE_IMAGE"] = base_image() or ""
    if variant == "upstream":
        env["KUMOMTA_STORE_IMAGE"] = store_image(docker.from_env())
    return KubeProject(root=root / "stacks" / "kumomta", name=name, cluster=cluster, env=env,
                       config=CONFIGS[variant])


def store_image(engine: docker.DockerClient) -> str:
    """Debian's redis-server (the offline variant's dragonfly stand-in, from the same package list) under an
    entrypoint that takes dragonfly's flags and drops them: the upstream variant's store here."""
    spec = loader.load(REPO / "stacks" / "kumomta" / "devstack.toml", environ={}).images["dragonfly-standin"]
    assert spec.packages is not None
    package_base.ensure(engine, spec, print)
    dockerfile = STORE_DOCKERFILE.format(base=package_base.offline_tag(spec.packages)).encode()
    tag = "devstack-test/kumomta-store:redis"
    engine.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    return tag


def require_image(variant: str) -> None:
    if variant != "upstream":
        return
    try:
        docker.from_env().images.get(KUMOMTA_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{KUMOMTA_IMAGE} is not in the local engine: it cannot be pulled here; build it from "
                    "KumoMTA's source by hand (stacks/kumomta/README.md, 'Verified against KumoMTA itself')")


@pytest.fixture(params=list(CONFIGS))
def kumomta(request: pytest.FixtureRequest, tmp_path: Path, test_cluster: TestCluster) -> Iterator[KubeProject]:
    require_image(request.param)
    project = copy_kumomta(tmp_path, test_cluster, request.param)
    yield project
    project.devstack("down", "--volumes", timeout=180)  # after a failure; a passing test has done it already


def uids(project: KubeProject, resource: str) -> set[str]:
    return {p["metadata"]["uid"] for p in project.pods(resource)}


def ready_pods(project: KubeProject, resource: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in project.pods(resource)
                  if all(s["ready"] for s in p["status"].get("containerStatuses", [{"ready": False}])))


def sink_recipients(project: KubeProject) -> int:
    url = f"http://127.0.0.1:{project.port('KUMOMTA_SINK_HTTP_PORT')}/stats"
    return int(httpx.get(url, timeout=5).json()["recipients"])


SEND_FROM_POD = """
import smtplib
with smtplib.SMTP('kumomta', 2500, local_hostname='app.example.test', timeout=30) as smtp:
    head = 'From: app@example.test\\r\\nTo: someone@outside.example\\r\\nSubject: {subject}\\r\\n'
    smtp.sendmail('app@example.test', ['someone@outside.example'], (head + '\\r\\nhi\\r\\n').encode())
"""


def sink_captured(project: KubeProject, recipient: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{project.port('KUMOMTA_SINK_HTTP_PORT')}/captured"
    return list(httpx.get(url, params={"recipient": recipient}, timeout=5).json()["messages"])


def smtp_to_an_outside_domain_ends_at_the_sink(project: KubeProject) -> None:
    """An app in the pod network (the sink's own pod: it has python3) relays through kumod's SMTP listener to a
    domain outside the cluster; kumod routes it to the sink, never to that domain's MX."""
    subject = f"outside {uuid.uuid4().hex[:8]}"
    sink_pod = project.pods("sink")[0]["metadata"]["name"]
    project.kubectl("exec", sink_pod, "--", "python3", "-c", SEND_FROM_POD.format(subject=subject))
    eventually(lambda: any(m["subject"] == subject for m in sink_captured(project, "someone@outside.example")),
               "the message to someone@outside.example at the sink")
    message = next(m for m in sink_captured(project, "someone@outside.example") if m["subject"] == subject)
    names = [name for name, _ in message["headers"]]
    assert names[:2] == ["X-KumoRef", "Received"], names  # kumod's trace headers, as it adds them


def test_kumomta_ci_inject_policy_edit_and_down(kumomta: KubeProject) -> None:
    result = kumomta.devstack("ci", "--timeout", "480", timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for smoke in ("kumod-liveness", "tsa-shaping", "inject"):
        assert re.search(rf"smoke .*{smoke}", output), output[-2000:]
    key = kumomta.secret("http-listener-keys")
    assert key not in output

    # depends_on: kumod was held back until its throttle store was ready, so no replica restarted for want of it.
    assert "kumomta  waiting on dragonfly" in output
    restarts = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"]
                for p in kumomta.pods("kumomta")}
    assert set(restarts.values()) == {0}, restarts
    # `devstack run queues`: kcli in a kumod pod, asking the admin listener (it trusts loopback). The real kcli and the
    # stand-in both head their table so.
    queues = kumomta.devstack("run", "queues", timeout=120)
    assert queues.returncode == 0 and "SCHEDULED QUEUE" in queues.stdout, queues.stdout + queues.stderr

    # Every replica ready, each with its own spool claim, bound.
    assert ready_pods(kumomta, "kumomta") == ["kumomta-0", "kumomta-1", "kumomta-2"]
    assert ready_pods(kumomta, "kumomta-tsa") == ["kumomta-tsa-0", "kumomta-tsa-1"]
    claims = kumomta.cluster.get("pvc", "-n", kumomta.name)["items"]
    assert sorted((c["metadata"]["name"], c["status"]["phase"]) for c in claims) == [
        (f"spool-kumomta-{i}", "Bound") for i in range(3)]

    daemon = Daemon(kumomta.root, kumomta.env, "--timeout", "300", "--web-port", "0",
                    options=kumomta.global_options())
    try:
        daemon.wait_for("watching for changes", timeout=300)
        # A user's injection: 10 recipients, the listener key; the sink counts 10 more.
        before = sink_recipients(kumomta)
        url = f"http://127.0.0.1:{kumomta.port('KUMOMTA_HTTP_PORT')}/api/inject/v1"
        payload = {"envelope_sender": "dev@example.test", "recipients": TEN,
                   "content": {"subject": "hi {{ name }}", "text_body": "ten", "from": {"email": "dev@example.test"}}}
        answer = httpx.post(url, json=payload, auth=("devstack", key), timeout=30).json()
        assert (answer["success_count"], answer["fail_count"]) == (10, 0), answer
        eventually(lambda: sink_recipients(kumomta) == before + 10, "10 more recipients at the sink")
        assert httpx.post(url, json=payload, auth=("devstack", "wrong"), timeout=30).status_code == 401
        smtp_to_an_outside_domain_ends_at_the_sink(kumomta)
        # Metrics on the admin listener, through its forward (loopback in the pod: trusted); not on 8000.
        admin = f"http://127.0.0.1:{kumomta.port('KUMOMTA_ADMIN_PORT')}"
        assert httpx.get(f"{admin}/metrics", timeout=30).status_code == 200
        assert httpx.get(url.replace("/api/inject/v1", "/metrics"), timeout=30).status_code == 401
        # kumod checks the policy inside a pod, with the pod's environment (no store contacted while validating).
        kumomta.kubectl("exec", "kumomta-0", "--", "/opt/kumomta/sbin/kumod", "--policy",
                        "/opt/kumomta/etc/policy/init.lua", "--validate", "--user", "kumod")

        # A policy edit: the ConfigMap kumomta-policy changes, the MTAs roll, the TSA (tsa-policy) does not.
        mtas, tsas = uids(kumomta, "kumomta"), uids(kumomta, "kumomta-tsa")
        mark = daemon.mark()
        init = kumomta.root / "k8s" / "policy" / "init.lua"
        init.write_text(init.read_text() + "-- edited by the test\n")
        daemon.wait_for(r"smoke ✓", after=mark, timeout=300)
        assert not uids(kumomta, "kumomta") & mtas, "every kumod replica must be a new pod"
        assert uids(kumomta, "kumomta-tsa") == tsas, "tsa-policy did not change: the TSA must not roll"
        policy = kumomta.kubectl("get", "configmap", "kumomta-policy", "-o", "jsonpath={.data.init\\.lua}")
        assert policy.endswith("-- edited by the test\n")
    finally:
        stopped = daemon.stop()
    assert stopped == 0, "\n".join(daemon.lines[-40:])

    down = kumomta.devstack("down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    # The spool claims stay, and so does the namespace that holds them.
    kept = [f"persistentvolumeclaim/spool-kumomta-{i}" for i in range(3)] + [f"namespace/{kumomta.name}"]
    eventually(lambda: sorted(kumomta.labelled()) == sorted(kept), "only the spool claims labelled after down",
               timeout=120)
    down = kumomta.devstack("down", "--volumes", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    eventually(lambda: kumomta.labelled() == [], "nothing labelled after down --volumes", timeout=120)
