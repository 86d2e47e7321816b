"""Opt-in: the demo end to end on a real cluster. Set DEVSTACK_E2E_KUBECONTEXT to a kubeconfig context
(kind-*, k3d-*, minikube, or any other, which this test allows for its run), with a Docker engine that can
build the demo images (DEVSTACK_BASE_IMAGE=devstack/base:bookworm when no registry is reachable):

    DEVSTACK_E2E_KUBECONTEXT=kind-demo .venv/bin/pytest tests/kubernetes/test_k8s_e2e.py -rs

The provider follows the context's name: kind-NAME → kind (cluster NAME), k3d-NAME → k3d, minikube → minikube,
anything else → context. The project is deployed, checked through port forwards and removed again.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from devstack.config import loader
from devstack.engine.converge import run_once
from devstack.observe.console import Console
from devstack.providers.base import DownOptions
from devstack.providers.kubernetes.provider import KubernetesProvider

CONTEXT = os.environ.get("DEVSTACK_E2E_KUBECONTEXT", "")
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not CONTEXT, reason="set DEVSTACK_E2E_KUBECONTEXT=<context> to run the demo on a "
                                                    "real Kubernetes cluster")


def profile(tmp_path: Path) -> Path:
    """The demo's k8s profile, pointed at the context under test, with absolute paths."""
    if CONTEXT.startswith(("kind-", "k3d-")):
        provider, cluster = CONTEXT.split("-", 1)
        target = f'provider = "{provider}"', f'cluster = "{cluster}"'
    elif CONTEXT == "minikube":
        target = 'provider = "minikube"', 'cluster = "minikube"'
    else:
        target = 'provider = "context"', f'context = "{CONTEXT}"'
    demo = REPO / "stacks" / "demo"
    text = (demo / "k8s" / "devstack.toml").read_text()
    text = text.replace('provider = "kind"', target[0]).replace('[kubernetes]\n', f"[kubernetes]\n{target[1]}\n")
    text = text.replace('"../relay"', f'"{demo / "relay"}"').replace('"../../../sink"', f'"{REPO / "sink"}"')
    text = text.replace('"../relay/relay.py"', f'"{demo / "relay" / "relay.py"}"')
    text = text.replace('manifests = ["relay.yaml", "sink.yaml"]',
                        f'manifests = ["{demo / "k8s" / "relay.yaml"}", "{demo / "k8s" / "sink.yaml"}"]')
    path = tmp_path / "devstack.toml"
    path.write_text(text.replace('name = "demo"', 'name = "demo-e2e"'))
    return path


def test_demo_on_a_real_cluster(tmp_path: Path) -> None:
    config = loader.load(profile(tmp_path))
    provider = KubernetesProvider(config, allow_context=CONTEXT)
    try:
        run_once(config, provider, Console(), 600)
        assert all(s.ready for s in provider.status())
        forwards = provider.start_forwards()
        try:
            with urllib.request.urlopen("http://127.0.0.1:8000/healthz", timeout=10) as response:
                assert response.status == 200
        finally:
            forwards.close()
        assert provider.logs("relay", 5) is not None
    finally:
        provider.close()
        report = provider.down(DownOptions(volumes=True))
        print(f"down: {report.summary()}")
