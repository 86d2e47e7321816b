"""`[[kubernetes.helm]]` for real: charts rendered by the cluster release's `helm template` (values files, `set`,
a chart in the stack's own folder, a chart with a dependency chart kept in the repository), deployed to the test
cluster, rolled by edits, and removed by `down`. The charts: tests/data/charts/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import Daemon
from tests.integration.conftest import free_port
from tests.realkube.conftest import PROJECT, AppProject, TestCluster
from tests.realkube.test_demo_on_cluster import eventually, get

CHARTS = Path(__file__).resolve().parents[1] / "data" / "charts"
CONFIG_HASH = "dev.devstack/config-hash"

MAILBOX = """\
[[kubernetes.helm]]
chart = "chart"
release = "box"
values = ["values-dev.yaml"]
set = {{ "worker.mode" = "busy" }}

[[forwards]]
resource = "svc/box-web"
local = "{port}"
remote = 80

[[smoke]]
name = "greeting"
type = "http"
resource = "box-web"
url = "http://127.0.0.1:{port}/greeting"
body_contains = "{greeting}"
"""

SUITE = """\
[[kubernetes.helm]]
chart = "{chart}"
release = "suite"
set = {{ "banner.text" = "{text}" }}
"""


class ChartProject(AppProject):
    """A project of its own whose manifests are helm charts: one image, `app` (the offline base), built and
    injected where the charts say `image: app`."""

    def configure(self, helm: str) -> None:
        (self.root / "devstack.toml").write_text(PROJECT.format(name=self.name) + "\n[kubernetes]\n" + helm)

    def devstack(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devstack", "--kube-context", self.cluster.context, *args],
                              cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def pods(self, component: str) -> list[dict]:  # type: ignore[type-arg]
        found = self.cluster.get("pods", "-n", self.name, "-l", f"app.kubernetes.io/component={component}")["items"]
        return [p for p in found if not p["metadata"].get("deletionTimestamp")]

    def pod_names(self, component: str) -> set[str]:
        return {p["metadata"]["name"] for p in self.pods(component)}

    def logs(self, component: str) -> str:
        """The logs of the component's live pods. Not `kubectl logs deployment/...`: that picks the longest-ready
        pod, which after a rollout can be the old one, still terminating."""
        return "".join(self.cluster.kubectl("logs", "-n", self.name, f"pod/{name}")
                       for name in sorted(self.pod_names(component)))

    def config_hash(self, deployment: str) -> str:
        found = self.cluster.get("deployment", deployment, "-n", self.name)
        return str((found["spec"]["template"]["metadata"].get("annotations") or {}).get(CONFIG_HASH, ""))

    def generation(self, deployment: str) -> int:
        return int(self.cluster.get("deployment", deployment, "-n", self.name)["metadata"]["generation"])

    def chart_objects(self) -> list[str]:
        """Everything in the project's namespace that a chart made (the release's names)."""
        out = self.cluster.kubectl("get", "deployments,services,configmaps", "-n", self.name, "-o", "name",
                                   check=False)
        return [line for line in out.split() if "/box-" in line or "/suite-" in line]


@pytest.fixture
def chart_project(tmp_path: Path, test_cluster: TestCluster) -> Iterator[ChartProject]:
    made = ChartProject(tmp_path, test_cluster)
    yield made
    down = made.devstack("down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr


def test_a_chart_in_the_stack_folder_deploys_rolls_exactly_what_a_values_edit_changed_and_goes_with_down(
        chart_project: ChartProject) -> None:
    project = chart_project
    shutil.copytree(CHARTS / "mailbox", project.root / "chart")
    values = project.root / "values-dev.yaml"
    values.write_text("greeting: hello from values-dev\n")
    port = free_port()
    project.configure(MAILBOX.format(port=port, greeting="hello from values-dev"))
    daemon = Daemon(project.root, project.env, "--timeout", "300", options=["--kube-context", project.cluster.context])
    try:
        daemon.wait_for("watching for changes", timeout=300)
        # The values file and `set` reached the rendered objects; the smoke test read the greeting through the
        # forward to the chart's Service.
        assert get(port, "/greeting") == "hello from values-dev"
        worker = project.cluster.get("deployment", "box-worker", "-n", project.name)
        env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "WORKER_MODE", "value": "busy"} in env
        web_pods, worker_pods = project.pod_names("web"), project.pod_names("worker")
        web_hash, worker_generation = project.config_hash("box-web"), project.generation("box-worker")
        assert web_hash and project.config_hash("box-worker") == "", "only the pod that reads the ConfigMap"

        # A values edit that changes the ConfigMap: the Deployment that reads it rolls, the other is untouched.
        mark = daemon.mark()
        values.write_text("greeting: hello after an edit\n")
        daemon.wait_for(r"manifests changed", after=mark)
        eventually(lambda: get(port, "/greeting") == "hello after an edit", "the edited greeting served", 120)
        eventually(lambda: project.pod_names("web").isdisjoint(web_pods), "the web pods replaced", 120)
        assert project.config_hash("box-web") not in ("", web_hash)
        assert project.pod_names("worker") == worker_pods and project.generation("box-worker") == worker_generation

        # A values edit of the worker alone: the worker scales, the web pods stay.
        web_pods = project.pod_names("web")
        mark = daemon.mark()
        values.write_text("greeting: hello after an edit\nworker: {replicas: 2}\n")
        daemon.wait_for(r"manifests changed", after=mark)
        eventually(lambda: len(project.pod_names("worker")) == 2, "a second worker", 120)
        assert worker_pods <= project.pod_names("worker"), "scaling keeps the running worker"
        assert project.pod_names("web") == web_pods
    finally:
        stopped = daemon.stop()
    assert stopped in (0, 130), "\n".join(daemon.lines[-40:])

    down = project.devstack("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert project.chart_objects() == []


def test_a_chart_with_a_dependency_chart_deploys_rolls_through_the_dependency_and_goes_with_down(
        chart_project: ChartProject) -> None:
    project = chart_project
    # The chart stays where the repository keeps it, its dependency in its charts/ folder.
    project.configure(SUITE.format(chart=CHARTS / "suite", text="first banner"))
    result = project.devstack("ci", "--timeout", "240")
    assert result.returncode == 0, result.stdout + result.stderr
    banner = project.cluster.get("configmap", "suite-banner", "-n", project.name)
    assert banner["data"] == {"text": "first banner"}, "`set` reached the dependency chart through the parent"
    assert "front shows: first banner" in project.logs("front")
    front, shown = project.pod_names("front"), project.pod_names("banner")

    # The dependency's ConfigMap changes: both Deployments that read it roll (one by env, one by volume).
    project.configure(SUITE.format(chart=CHARTS / "suite", text="second banner"))
    result = project.devstack("ci", "--timeout", "240")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.pod_names("front").isdisjoint(front) and project.pod_names("banner").isdisjoint(shown)
    assert "front shows: second banner" in project.logs("front")

    down = project.devstack("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert project.chart_objects() == []
