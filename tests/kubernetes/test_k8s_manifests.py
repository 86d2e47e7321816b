"""Every Kubernetes manifest under stacks/ is valid against the Kubernetes schemas (offline, strict: unknown
fields fail too), as written and as devstack renders it (images injected, labels and namespace added): those of
1.30, the oldest release users run, and of 1.37, the test cluster's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devstack.config import loader
from devstack.config.secret_store import Secret
from devstack.providers.kubernetes import manifests, render

STACKS = Path(__file__).resolve().parents[2] / "stacks"
VERSIONS = ("1.30", "1.37")
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass"}


def kubernetes_documents() -> list[tuple[str, int, dict[str, Any]]]:
    """(file, document number, object) for every YAML document under stacks/ that is a Kubernetes object."""
    found = []
    for path in sorted([*STACKS.rglob("*.yaml"), *STACKS.rglob("*.yml")]):
        for number, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8")), 1):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:  # compose files have neither
                found.append((str(path.relative_to(STACKS)), number, doc))
    return found


DOCUMENTS = kubernetes_documents()


def test_the_demo_ships_kubernetes_manifests() -> None:
    kinds = {(file, doc["kind"], doc["metadata"]["name"]) for file, _, doc in DOCUMENTS}
    assert {("demo/k8s/relay.yaml", "Deployment", "relay"), ("demo/k8s/relay.yaml", "Service", "relay"),
            ("demo/k8s/sink.yaml", "Deployment", "sink"), ("demo/k8s/sink.yaml", "Service", "sink")} <= kinds


@pytest.mark.parametrize(("file", "number", "doc"), DOCUMENTS,
                         ids=[f"{file}#{number}" for file, number, _ in DOCUMENTS])
@pytest.mark.parametrize("version", VERSIONS)
def test_manifest_is_valid(file: str, number: int, doc: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        pytest.fail(f"{file}#{number} ({doc['kind']} {doc['metadata'].get('name')}) for {version}: {err.message}")


def test_rendered_demo_is_valid() -> None:
    config = loader.load(STACKS / "demo" / "k8s" / "devstack.toml", environ={})
    assert config.kubernetes is not None
    documents = manifests.load(config.kubernetes, config.display)
    inputs = render.Inputs(project="demo", namespace=config.kubernetes.namespace,
                           refs={"relay": "relay:0123456789abcdef", "sink": "sink:0123456789abcdef"},
                           secrets=[Secret("inject-password", "password", "x" * 24)])
    result = render.render(documents, inputs, lambda _api, kind: kind not in CLUSTER_SCOPED)
    for obj in result.objects:
        for version in VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    assert {o["kind"] for o in result.objects} == {"Secret", "Service", "Deployment"}
