"""Turn the loaded manifests into exactly what devstack applies: images injected, the namespace filled in, dev
secrets added as Secrets, ownership labels on every object and pod template, a config hash on every pod template
that uses a ConfigMap or Secret (see confighash), a stable order, and a digest of it all (on every object as a
label, so an unchanged redeploy is recognised and skipped).

A pure function of its inputs: the cluster is only asked, through `namespaced`, which kinds are namespaced.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from devstack import labels
from devstack.config.secret_store import Secret
from devstack.errors import ConfigError
from devstack.providers.kubernetes import confighash, inject
from devstack.providers.kubernetes.manifests import Document

Json = dict[str, Any]
RESOURCE = "dev.devstack.resource"  # on pod templates: the workload a pod belongs to (for logs and forwards)
Namespaced = Callable[[str, str], bool]  # (apiVersion, kind) → namespaced?

# Apply order: what others refer to comes first. Unknown kinds (custom resources) go last, after their CRDs.
_ORDER = {kind: rank for rank, kinds in enumerate((
    ("Namespace",), ("CustomResourceDefinition",), ("ServiceAccount",),
    ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"), ("ConfigMap", "Secret"),
    ("StorageClass", "PersistentVolume", "PersistentVolumeClaim", "Service"),
    inject.WORKLOAD_KINDS)) for kind in kinds}
_LAST = len(set(_ORDER.values()))


def rank(kind: str) -> int:
    """Where a kind goes in the apply order: objects of one rank refer to none of each other's existence."""
    return _ORDER.get(kind, _LAST)


@dataclass(frozen=True)
class Workload:
    kind: str
    namespace: str
    name: str
    resource: str  # how devstack names it to the user: the name, or kind/name when two kinds share a name


@dataclass(frozen=True)
class Rendered:
    objects: tuple[Json, ...]
    sources: tuple[str, ...]  # where each object came from, for errors
    workloads: tuple[Workload, ...]
    namespaces: tuple[str, ...]  # namespaces used but not defined by the manifests: created when missing
    digest: str
    images: Mapping[str, str]  # repository → ref injected


@dataclass(frozen=True)
class Inputs:
    project: str
    namespace: str
    refs: Mapping[str, str]  # repository as written in manifests → image ref to inject
    secrets: Sequence[Secret] = ()
    disabled: frozenset[str] = frozenset()  # workloads left out (devstack disable): the prune removes them


def render(documents: Sequence[Document], inputs: Inputs, namespaced: Namespaced) -> Rendered:
    items = [(copy.deepcopy(d.obj), d.source) for d in documents if not _disabled(d.obj, inputs.disabled)]
    items += [(secret_object(s), f"[secrets.{s.name}]") for s in inputs.secrets]
    own = {labels.PROJECT: inputs.project}
    for obj, _source in items:
        if namespaced(obj["apiVersion"], obj["kind"]):
            if not obj["metadata"].get("namespace"):  # missing, or `namespace:` left empty: the project's
                obj["metadata"]["namespace"] = inputs.namespace
        else:
            obj["metadata"].pop("namespace", None)  # meaningless on a cluster-scoped object
        _label(obj["metadata"], own)
        inject.images(obj, inputs.refs)
        inject.port_protocols(obj)
        inject.pod_labels(obj, {**own, RESOURCE: obj["metadata"]["name"]})
        inject.claim_labels(obj, own)
    _unique(items)
    confighash.annotate([obj for obj, _ in items])  # before the digest: an edited config changes both
    items.sort(key=lambda item: rank(item[0]["kind"]))
    objects = tuple(obj for obj, _ in items)
    digest = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()[:40]
    for obj in objects:
        _label(obj["metadata"], {labels.DIGEST: digest})
    defined = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    used = {str(o["metadata"]["namespace"]) for o in objects if "namespace" in o["metadata"]}
    return Rendered(objects=objects, sources=tuple(source for _, source in items), workloads=_workloads(objects),
                    namespaces=tuple(sorted(used - defined)), digest=digest, images=dict(inputs.refs))


def _disabled(obj: Json, disabled: frozenset[str]) -> bool:
    """A workload of a disabled resource (by its name, or kind/name); its claims and Services stay."""
    if obj.get("kind") not in inject.WORKLOAD_KINDS or not disabled:
        return False
    name = obj["metadata"]["name"]
    return name in disabled or f"{obj['kind'].lower()}/{name}" in disabled


def secret_object(secret: Secret) -> Json:
    # `data` rather than `stringData`: stringData is write-only and never matches under server-side apply.
    encoded = base64.b64encode(secret.value.encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": secret.name},
            "data": {secret.key: encoded}}


def key(obj: Json) -> tuple[str, str, str, str]:
    group = obj["apiVersion"].rpartition("/")[0]
    return group, obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _label(metadata: Json, extra: Mapping[str, str]) -> None:
    metadata["labels"] = {**(metadata.get("labels") or {}), **extra}


def _unique(items: list[tuple[Json, str]]) -> None:
    seen: dict[tuple[str, str, str, str], str] = {}
    for obj, source in items:
        first = seen.setdefault(key(obj), source)
        if first != source:
            _group, kind, namespace, name = key(obj)
            where = f" in namespace {namespace}" if namespace else ""
            raise ConfigError(source, "metadata.name", f"{kind} {name!r}{where} is defined twice (first in {first})")


def _workloads(objects: Sequence[Json]) -> tuple[Workload, ...]:
    found = [o for o in objects if o["kind"] in inject.WORKLOAD_KINDS and o["kind"] != "CronJob"]
    names = Counter(o["metadata"]["name"] for o in found)
    return tuple(Workload(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"],
                          o["metadata"]["name"] if names[o["metadata"]["name"]] == 1
                          else f"{o['kind'].lower()}/{o['metadata']['name']}") for o in found)


def resource_images(rendered: Rendered, images: Mapping[str, str]) -> dict[str, str]:
    """Workload → the image it runs, as a built tag when it is one of devstack's (the engine compares tags)."""
    tags = {rendered.images[repo]: tag for repo, tag in images.items() if repo in rendered.images}
    result = {}
    by_name = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in rendered.objects}
    for workload in rendered.workloads:
        running = [str(c.get("image", "")) for c in inject.containers(by_name[(workload.kind, workload.namespace,
                                                                               workload.name)])]
        ours = [tags[image] for image in running if image in tags]
        if ours or running:
            result[workload.resource] = (ours or running)[0]
    return result



def holding(rendered: Rendered, started: Collection[str]) -> Rendered:
    """The deploy for one stage of a deploy in dependency order: every object but the workloads of resources not
    in `started`, which are applied in a later stage, once their dependencies are ready."""
    held = {(w.kind, w.namespace, w.name) for w in rendered.workloads if w.resource not in started}
    kept = [(obj, source) for obj, source in zip(rendered.objects, rendered.sources, strict=True)
            if (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) not in held]
    return replace(rendered, objects=tuple(o for o, _ in kept), sources=tuple(s for _, s in kept),
                   workloads=tuple(w for w in rendered.workloads if w.resource in started))
