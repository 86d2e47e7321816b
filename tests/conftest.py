"""Fixtures for the whole suite."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ("tests.browsing",)  # the browser fixtures, for tests/browser and tests/realkube alike


def _cluster_programs() -> Path:
    """The test cluster's programs (kubectl and helm of its release), linked beside its kubeconfig by
    `tests/cluster/cluster.py up --kubeconfig`."""
    kubeconfig = Path(os.environ.get("DEVSTACK_TEST_KUBECONFIG") or REPO / ".devstack/test-cluster/kubeconfig")
    return kubeconfig.parent / "bin"


# Ahead of any other kubectl or helm on PATH, for the tests and for the devstack processes they start: devstack
# renders kustomize and helm charts with these, and the tests check the cluster with the same kubectl.
if _cluster_programs().is_dir():
    os.environ["PATH"] = f"{_cluster_programs()}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session", autouse=True)
def _dev_secrets_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Loading a config generates its dev secrets: keep them out of the real ~/.local/state. Set in os.environ,
    so devstack processes the tests start inherit it too."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """The real Docker engine: required, never optional (`make test` installs and starts it)."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as err:
        pytest.fail(f"these tests need a running Docker engine (`make test` starts one): {err}")
    return client


@pytest.fixture(scope="module", autouse=True)
def _no_event_loop_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module that leaves an event loop running in the main thread (a driver not stopped) breaks every asyncio
    test after it with "cannot be called from a running event loop": name the module that did it instead."""
    name = request.module.__name__
    assert asyncio._get_running_loop() is None, f"a module run before {name} left an event loop running"
    yield
    assert asyncio._get_running_loop() is None, f"{name} left an event loop running"
