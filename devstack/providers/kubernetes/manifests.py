"""Read the manifests [kubernetes] names: plain YAML files (multi-document, globs), kustomize folders rendered by
`kubectl kustomize`, helm charts rendered by `helm template`. The result is a list of plain objects, each with
where it came from, for errors."""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.config import documents as config_documents
from devstack.config.model import HelmChart, KubernetesSpec
from devstack.errors import ConfigError
from devstack.providers.kubernetes import rendercache, shapes, tools

Display = Callable[[Path], str]  # a path as the user wrote it


@dataclass(frozen=True)
class Document:
    obj: dict[str, Any]
    source: str  # "k8s/relay.yaml#2", "kustomize k8s/dev#4", "helm chart charts/web#1"

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def load(spec: KubernetesSpec, display: Display) -> list[Document]:
    documents: list[Document] = []
    for path in files(spec.manifests):
        documents += parse(config_documents.read_text(path, display(path)), display(path))
    for folder in spec.kustomize:
        remote: list[str] = []
        inputs = kustomize_inputs(folder, remote=remote)
        rendered = rendercache.run(kustomize_argv(folder), None if remote else inputs,
                                   what=f"kustomize of {display(folder)}")
        documents += parse(rendered, f"kustomize {display(folder)}")
    for chart in spec.helm:
        rendered = rendercache.run(helm_argv(chart, spec.namespace), [chart.chart, *chart.values],
                                   what=f"helm template of {display(chart.chart)}")
        documents += parse(rendered, f"helm chart {display(chart.chart)}")
    return documents


def files(patterns: tuple[str, ...]) -> list[Path]:
    """Every file the patterns match, once each, in a stable order."""
    found = {Path(p) for pattern in patterns for p in glob.glob(pattern, recursive=True)}
    return sorted(p for p in found if p.is_file())


KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_KUSTOMIZE_LISTS = ("resources", "bases", "components", "patchesStrategicMerge", "crds", "configurations")
_KUSTOMIZE_GENERATORS = ("configMapGenerator", "secretGenerator")


def kustomize_inputs(folder: Path, found: set[Path] | None = None, remote: list[str] | None = None) -> set[Path]:
    """The local folders and files a kustomization reads: its folder, and what its resources, bases, components,
    patches and generators name, followed into other kustomizations (an overlay's `../../base`). Remote ones
    (URLs, git) are left out, and added to `remote` when given; so is anything unreadable, which `kubectl
    kustomize` will report."""
    found = set() if found is None else found
    folder = folder.resolve()
    if folder in found:
        return found
    found.add(folder)
    try:
        text = next((config_documents.read_text(f, str(f)) for name in KUSTOMIZATION_FILES
                     if (f := folder / name).is_file()), "")
        kustomization = next(iter(config_documents.yaml_documents(text, str(folder))), None)
    except ConfigError:
        return found  # `kubectl kustomize` will say what is wrong with it
    for reference in _kustomize_references(kustomization if isinstance(kustomization, dict) else {}):
        if "://" in reference or reference.startswith(("github.com/", "git@")):
            if remote is not None:
                remote.append(reference)
            continue
        try:
            path = (folder / reference).resolve()
            is_dir = path.is_dir()
        except (OSError, ValueError):  # a name too long or with a NUL byte: kubectl kustomize reports it
            continue
        if is_dir:
            kustomize_inputs(path, found, remote)
        else:
            found.add(path)
    return found


def _kustomize_references(kustomization: dict[str, Any]) -> Iterator[str]:
    for key in _KUSTOMIZE_LISTS:
        yield from (r for r in _list(kustomization.get(key)) if isinstance(r, str))
    for patch in _list(kustomization.get("patches")):
        if isinstance(patch, dict) and isinstance(patch.get("path"), str):
            yield patch["path"]
    for key in _KUSTOMIZE_GENERATORS:
        for generator in _list(kustomization.get(key)):
            if isinstance(generator, dict):
                for entry in [*_list(generator.get("files")), *_list(generator.get("envs"))]:
                    if isinstance(entry, str):
                        yield entry.rpartition("=")[2]  # files may be "key=path"


def _list(value: Any) -> list[Any]:
    """A list a kustomization holds; anything else (kubectl kustomize refuses it) names nothing."""
    return value if isinstance(value, list) else []


def kustomize_argv(folder: Path) -> list[str]:
    return [tools.find("kubectl", "to render kustomize folders (`kubectl kustomize`)"), "kustomize", str(folder)]


def helm_argv(chart: HelmChart, namespace: str) -> list[str]:
    helm = tools.find("helm", "to render helm charts (`helm template`)")
    argv = [helm, "template", chart.release, str(chart.chart), "--namespace", namespace]
    for values in chart.values:
        argv += ["--values", str(values)]
    for key, value in chart.set.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def parse(text: str, source: str) -> list[Document]:
    """The objects of a multi-document YAML text; `List` kinds are unpacked, empty documents skipped."""
    raw = [doc for doc in config_documents.yaml_documents(text, source.strip()) if doc is not None]
    documents = []
    for number, doc in enumerate(_unpack(raw), 1):
        where = f"{source}#{number}"
        documents.append(Document(_checked(doc, where), where))
    return documents


def _unpack(docs: list[Any]) -> Iterator[Any]:
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            yield from doc["items"]
        else:
            yield doc


def _checked(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ConfigError(where, "", f"expected a Kubernetes object (a mapping), got {type(doc).__name__}")
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise ConfigError(where, key, "is required")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        # generateName would create a new object on every apply: devstack applies by name.
        raise ConfigError(where, "metadata.name", "is required (devstack applies objects by name; "
                                                  "generateName is not supported)")
    shapes.check(doc, where)
    return doc
