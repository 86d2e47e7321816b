"""The test environment of the Kubernetes provider's tests (see conftest.py for the fixture that builds it):
a fake API server with a simulated cluster, a second one behind the kubeconfig's current-context that must
never be called, a kubeconfig, and a throwaway project."""

from __future__ import annotations

import queue
import shutil
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

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
T = TypeVar("T")

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


IMAGES = {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}


def up(env: Env, extra: str = "") -> KubernetesProvider:
    """A provider that has deployed the project (with `extra` in its devstack.toml) and waited for it."""
    provider = env.provider(env.config(extra=extra))
    plan = provider.plan(IMAGES)
    provider.apply(plan)
    provider.wait_ready(plan, 10)
    return provider


def background(lines: Iterator[T]) -> queue.Queue[T]:
    """Drain a blocking generator (a provider's follow_logs) in a thread, as the engine does."""
    received: queue.Queue[T] = queue.Queue()
    threading.Thread(target=lambda: [received.put(line) for line in lines], daemon=True, name="drain").start()
    return received


def collect(received: queue.Queue[T], count: int, timeout_s: float = 5.0) -> list[T]:
    """Up to `count` items, as many as come within `timeout_s`."""
    deadline, found = time.monotonic() + timeout_s, []
    while len(found) < count and time.monotonic() < deadline:
        try:
            found.append(received.get(timeout=0.1))
        except queue.Empty:
            continue
    return found


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


def exchange(port: int, data: bytes) -> bytes:
    """Through a port forward: the fake pod answers with its own name and what it was sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        return conn.recv(4096)
