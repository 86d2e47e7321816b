"""Kubernetes manifests and kustomizations: the shipped ones mutated or spliced render (images injected, labels,
config hashes) or are refused naming the file and document; a kustomization's inputs are found or it is left
to `kubectl kustomize` to refuse, never a crash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from devstack.providers.kubernetes import manifests, render
from tests.property import generated
from tests.property.outcome import bounded, loads_or_refused

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = ["stacks/demo/k8s/relay.yaml", "stacks/kumomta/k8s/kumomta.yaml", "stacks/mailman/k8s/mailman-core.yaml"]
KUSTOMIZATIONS = ["stacks/kumomta/k8s", "stacks/mailman/k8s", "stacks/kumomta/offline"]
INPUTS = render.Inputs(project="prop", namespace="prop", refs={"relay": "relay:1", "kumomta": "kumomta:1"})
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "StorageClass"}


def _render(text: str, source: str) -> None:
    def parse_and_render() -> render.Rendered:
        documents = manifests.parse(text, source)
        return render.render(documents, INPUTS, lambda _api, kind: kind not in CLUSTER_SCOPED)

    loads_or_refused(parse_and_render, source)


@pytest.mark.parametrize("manifest", MANIFESTS)
@given(data=st.data())
def test_mutated_manifests_render_or_are_refused(manifest: str, data: st.DataObject) -> None:
    documents = [d for d in yaml.safe_load_all((REPO / manifest).read_text()) if d is not None]
    for _ in range(data.draw(st.integers(1, 3))):
        generated.mutate(data, documents)
    _render("---\n".join(generated.yaml_text(d) for d in documents), manifest)


@pytest.mark.parametrize("manifest", MANIFESTS)
@given(cut=st.integers(0, 20_000), length=st.integers(0, 100), insert=generated.SYNTAX_TEXT)
def test_spliced_manifests_render_or_are_refused(manifest: str, cut: int, length: int, insert: str) -> None:
    original = (REPO / manifest).read_text()
    cut %= len(original) + 1
    _render(original[:cut] + insert + original[cut + length:], manifest)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kustomize")
    shutil.copytree(REPO / "stacks", root / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
@given(data=st.data())
def test_mutated_kustomizations_never_crash(stacks: Path, folder: str, data: st.DataObject) -> None:
    path = stacks / folder / "kustomization.yaml"
    original = (REPO / folder / "kustomization.yaml").read_text()
    document = yaml.safe_load(original)
    for _ in range(data.draw(st.integers(1, 3))):
        generated.mutate(data, document)
    path.write_text(generated.yaml_text(document), encoding="utf-8")
    try:
        with bounded():
            found = manifests.kustomize_inputs(stacks / folder)
        assert (stacks / folder).resolve() in found
    finally:
        path.write_text(original)
