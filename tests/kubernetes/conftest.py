"""Fixtures for the Kubernetes provider: a fake API server on 127.0.0.1 (with a simulated cluster behind it),
a kubeconfig that points at it, and throwaway projects.

The kubeconfig's current-context is `prod`, served by a second fake server: devstack must only ever use the
context its devstack.toml names, so any request reaching `prod` is a failure (every test checks it).
"""

from __future__ import annotations

import shutil
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakekube import FakeKube
from fakekube_sim import Cluster

from devstack.config import loader
from devstack.config.model import Config
from devstack.providers.kubernetes import readiness
from devstack.providers.kubernetes.provider import KubernetesProvider

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "stacks" / "demo" / "k8s"
TOKEN = "fake-token-123"
FAST = readiness.Options(unschedulable_grace_s=0.0, resync_s=5.0)

PROJECT_TOML = """\
[project]
name = "demo"
provider = "context"

[kubernetes]
context = "kind-demo"
manifests = ["k8s/*.yaml"]
{kubernetes}
[secrets.inject-password]
length = 24
key = "password"
{extra}"""


@dataclass
class Env:
    kube: FakeKube
    cluster: Cluster
    prod: FakeKube
    kubeconfig: Path
    root: Path

    def write(self, kubernetes: str = "", extra: str = "", manifests: dict[str, str] | None = None) -> Path:
        """A project in `root`: devstack.toml plus manifests (default: the demo's) under k8s/."""
        folder = self.root / "k8s"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if manifests is None:
            for name in ("relay.yaml", "sink.yaml"):
                shutil.copy(DEMO / name, folder / name)
        else:
            for name, text in manifests.items():
                (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
        path = self.root / "devstack.toml"
        path.write_text(PROJECT_TOML.format(kubernetes=kubernetes, extra=extra), encoding="utf-8")
        return path

    def config(self, **write: object) -> Config:
        """The project's config; written first when asked to, or when there is none yet."""
        path = self.root / "devstack.toml"
        if write or not path.exists():
            path = self.write(**write)  # type: ignore[arg-type]
        return loader.load(path)

    def provider(self, config: Config | None = None, **options: object) -> KubernetesProvider:
        options.setdefault("wait", FAST)
        return KubernetesProvider(config or self.config(), **options)  # type: ignore[arg-type]


def kubeconfig_text(url: str, prod_url: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Config
        clusters:
          - name: fake
            cluster: {{server: "{url}"}}
          - name: production
            cluster: {{server: "{prod_url}"}}
        users:
          - name: dev
            user: {{token: {TOKEN}}}
        contexts:
          - name: kind-demo
            context: {{cluster: fake, user: dev}}
          - name: staging-lab
            context: {{cluster: fake, user: dev}}
          - name: prod
            context: {{cluster: production, user: dev}}
        current-context: prod
        """)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    kube, prod = FakeKube().start(), FakeKube().start()
    cluster = Cluster(kube.store)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_text(kube.url, prod.url), encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = tmp_path / "project"
    root.mkdir()
    yield Env(kube, cluster, prod, kubeconfig, root)
    leaked = _devstack_threads(deadline_s=3.0)
    cluster.stop()
    kube.stop()
    prod.stop()
    assert prod.requests() == [], "devstack talked to the kubeconfig's current-context instead of its own"
    assert not leaked, f"background threads still running after the test: {leaked}"


def _devstack_threads(deadline_s: float) -> list[str]:
    """devstack's watch, log and forward threads that are still alive once `deadline_s` has passed."""
    deadline = time.monotonic() + deadline_s
    while True:
        alive = [t.name for t in threading.enumerate()
                 if t.name.startswith(("informer ", "logs ", "forward ", "drain"))]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)
