"""depends_on, disable and commands on the real test cluster, with the demo's Kubernetes profile: the relay's
Deployment is applied only once the sink's pod is ready; disabling the relay deletes its Deployment and keeps its
Service; an exec command runs in the sink's pod."""

from __future__ import annotations

from datetime import datetime

from tests.realkube.conftest import KubeProject


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_dependent_is_applied_once_its_dependency_is_ready(kube_demo: KubeProject) -> None:
    config = kube_demo.root / kube_demo.config
    config.write_text(config.read_text() + '\n[resources.relay]\ndepends_on = ["sink"]\n\n[[commands]]\n'
                      'name = "hello"\nresource = "sink"\nexec = ["sh", "-c", "echo hello from $$(hostname)"]\n')
    ci = kube_demo.devstack("ci", "--timeout", "400")
    assert ci.returncode == 0, ci.stdout[-3000:] + ci.stderr[-2000:]
    assert "relay    waiting on sink" in ci.stdout
    (sink,), (relay,) = kube_demo.pods("sink"), kube_demo.pods("relay")
    ready = next(c for c in sink["status"]["conditions"] if c["type"] == "Ready")
    created = kube_demo.cluster.get("deployment", "relay", "-n", kube_demo.name)["metadata"]["creationTimestamp"]
    assert _time(created) >= _time(ready["lastTransitionTime"])  # the Deployment came after the sink was ready
    assert relay["status"]["containerStatuses"][0]["restartCount"] == 0

    hello = kube_demo.devstack("run", "hello")
    assert hello.returncode == 0 and f"sink     │ hello from {sink['metadata']['name']}" in hello.stdout

    off = kube_demo.devstack("disable", "relay")
    assert off.returncode == 0, off.stdout + off.stderr
    assert kube_demo.kubectl("get", "deployments", "-o", "name").split() == ["deployment.apps/sink"]
    assert kube_demo.kubectl("get", "service", "relay", "-o", "name").strip() == "service/relay"
    on = kube_demo.devstack("enable", "relay")
    assert on.returncode == 0, on.stdout + on.stderr
    assert kube_demo.pods("relay")
