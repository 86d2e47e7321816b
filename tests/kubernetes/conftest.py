"""Fixtures for the Kubernetes provider: a fake API server on 127.0.0.1 (with a simulated cluster behind it),
a kubeconfig that points at it, and throwaway projects.

The kubeconfig's current-context is `prod`, served by a second fake server: devstack must only ever use the
context its devstack.toml names, so any request reaching `prod` is a failure (every test checks it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakekube import FAKE, FakeKube
from fakekube_sim import Cluster
from k8s_env import Env, kubeconfig_text


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
    before = set(threading.enumerate())
    yield Env(kube, cluster, prod, kubeconfig, root)
    leaked = _started_threads(before, deadline_s=3.0)
    cluster.stop()
    kube.stop()
    prod.stop()
    assert prod.requests() == [], "devstack talked to the kubeconfig's current-context instead of its own"
    assert not leaked, f"background threads still running after the test: {leaked}"


def _started_threads(before: set[threading.Thread], deadline_s: float) -> list[str]:
    """Every thread the test started (devstack's watches, log streams, forwards, blocking calls, or the test's
    own) that is still alive once `deadline_s` has passed; the fake servers' own threads aside."""
    deadline = time.monotonic() + deadline_s
    while True:
        alive = [t.name for t in threading.enumerate() if t not in before and not t.name.startswith(FAKE)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An exception in any background thread (a watch, a log stream, a forward) fails the test it happened in."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"))
