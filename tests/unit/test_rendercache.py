"""Rendered kustomize folders and helm charts kept on disk by what they were made from: the tool runs again only
when a file it reads, its command line or the tool itself changed, and never for a kustomization with a remote
base. The tool here is a script on PATH that counts its runs and renders from the files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devstack.config.model import HelmChart, KubernetesSpec
from devstack.providers.kubernetes import manifests, rendercache

TOOL = """#!/bin/sh
echo run >> "{runs}"
if [ "$1" = kustomize ]; then cat "$2/deployment.yaml"; else cat "$3/templates/"*.yaml; fi
"""
DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\n"


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`kubectl` and `helm` on PATH, both the counting script; the cache in tmp. Returns the runs file."""
    bin_dir, runs = tmp_path / "bin", tmp_path / "runs"
    bin_dir.mkdir()
    for name in ("kubectl", "helm"):
        script = bin_dir / name
        script.write_text(TOOL.format(runs=runs))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return runs


def runs(file: Path) -> int:
    return len(file.read_text().splitlines()) if file.exists() else 0


def kustomization(folder: Path, name: str, resources: str = "[deployment.yaml]") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(f"resources: {resources}\n")
    (folder / "deployment.yaml").write_text(DEPLOYMENT.format(name=name))
    return folder


def spec_of(**manifests_: object) -> KubernetesSpec:
    return KubernetesSpec(context="dev", cluster="dev", namespace="dev", **manifests_)  # type: ignore[arg-type]


def names(spec: KubernetesSpec) -> list[str]:
    return [document.name for document in manifests.load(spec, str)]


def test_a_kustomize_folder_is_rendered_again_only_when_a_file_it_reads_changed(tools: Path, tmp_path: Path) -> None:
    folder = kustomization(tmp_path / "k8s", "web")
    spec = spec_of(kustomize=(folder,))
    assert names(spec) == ["web"] and names(spec) == ["web"]
    assert runs(tools) == 1  # the second load came from the cache
    (folder / "deployment.yaml").write_text(DEPLOYMENT.format(name="api"))
    assert names(spec) == ["api"] and runs(tools) == 2
    cached = list(rendercache.folder().glob("*.yaml"))
    assert cached and all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in cached)


def test_a_kustomization_with_a_remote_base_is_rendered_every_time(tools: Path, tmp_path: Path) -> None:
    folder = kustomization(tmp_path / "k8s", "web", "[deployment.yaml, 'https://example.test/base']")
    spec = spec_of(kustomize=(folder,))
    names(spec)
    names(spec)
    assert runs(tools) == 2


def test_a_helm_chart_is_rendered_again_when_its_values_or_the_tool_changed(tools: Path, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "templates" / "web.yaml").write_text(DEPLOYMENT.format(name="web"))
    values = tmp_path / "values.yaml"
    values.write_text("replicas: 1\n")
    spec = spec_of(helm=(HelmChart(chart=chart, release="web", values=(values,)),))
    names(spec)
    names(spec)
    assert runs(tools) == 1
    values.write_text("replicas: 2\n")
    names(spec)
    assert runs(tools) == 2
    helm = tmp_path / "bin" / "helm"
    helm.write_text(helm.read_text() + "# another version\n")
    names(spec)
    assert runs(tools) == 3


def test_a_chart_that_is_not_a_local_folder_is_rendered_every_time(tools: Path, tmp_path: Path) -> None:
    """`repo/chart` names a chart of a repository: a new version there changes what it renders."""
    helm = tmp_path / "bin" / "helm"
    helm.write_text(f"#!/bin/sh\necho run >> \"{tools}\"\nprintf '{DEPLOYMENT.format(name='web')}'\n")
    spec = spec_of(helm=(HelmChart(chart=Path("repo/web"), release="web"),))
    assert names(spec) == ["web"] and names(spec) == ["web"]
    assert runs(tools) == 2
