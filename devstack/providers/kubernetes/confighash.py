"""Config-hash rollouts: an edited ConfigMap or Secret rolls exactly the workloads that use it.

Kubernetes restarts nothing when a mounted or referenced ConfigMap or Secret changes (env vars never update, and
mounted files change under a running process that read them at start). So, as helm charts do by hand with a
`checksum/config` annotation, devstack puts on every pod template a hash of the content of each ConfigMap and
Secret of the rendered set that the template mounts or reads: volumes (configMap, secret, projected sources),
env `valueFrom` and `envFrom` of every container, init and ephemeral ones included. devstack's own dev secrets
are Secrets of that set too. A changed hash changes the template, and the workload rolls; a template that uses
none of them gets no annotation, and a workload whose configs did not change keeps its template untouched.

Objects that the pod refers to but devstack does not apply (created by hand, or by an operator) are left out:
devstack cannot know their content. The hash is a SHA-256, so it tells nothing about a secret's value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from devstack.providers.kubernetes import inject

Json = dict[str, Any]
ANNOTATION = "dev.devstack/config-hash"
_CONTENT = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData")}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
Ref = tuple[str, str]  # (kind, name) in the pod's namespace


def annotate(objects: Sequence[Json]) -> None:
    """Add the annotation, in place, to the pod template of every workload that uses a ConfigMap or Secret of
    `objects` (namespaces must already be filled in)."""
    contents = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): _content(o)
                for o in objects if o.get("kind") in _CONTENT}
    for obj in objects:
        pod = inject.template(obj)
        if pod is None:
            continue
        namespace = obj["metadata"].get("namespace", "")
        used = sorted({ref for ref in references(pod) if (ref[0], namespace, ref[1]) in contents})
        if used:
            digest = hashlib.sha256()
            for kind, name in used:
                digest.update(json.dumps([kind, name, contents[(kind, namespace, name)]]).encode())
            metadata = inject.metadata_of(pod)
            metadata["annotations"] = {**(metadata.get("annotations") or {}), ANNOTATION: digest.hexdigest()[:32]}


def references(pod: Json) -> Iterator[Ref]:
    """Every ConfigMap and Secret a pod template (metadata + spec) mounts or reads."""
    spec = pod.get("spec") or {}
    for volume in spec.get("volumes") or []:
        yield from _volume(volume)
    for key in _CONTAINER_LISTS:
        for container in spec.get(key) or []:
            yield from _container(container)


def _volume(volume: Json) -> Iterator[Ref]:
    if volume.get("configMap"):
        yield "ConfigMap", str(volume["configMap"].get("name", ""))
    if volume.get("secret"):
        yield "Secret", str(volume["secret"].get("secretName", ""))
    for source in (volume.get("projected") or {}).get("sources") or []:
        if source.get("configMap"):
            yield "ConfigMap", str(source["configMap"].get("name", ""))
        if source.get("secret"):
            yield "Secret", str(source["secret"].get("name", ""))


def _container(container: Json) -> Iterator[Ref]:
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        if source.get("configMapKeyRef"):
            yield "ConfigMap", str(source["configMapKeyRef"].get("name", ""))
        if source.get("secretKeyRef"):
            yield "Secret", str(source["secretKeyRef"].get("name", ""))
    for env_from in container.get("envFrom") or []:
        if env_from.get("configMapRef"):
            yield "ConfigMap", str(env_from["configMapRef"].get("name", ""))
        if env_from.get("secretRef"):
            yield "Secret", str(env_from["secretRef"].get("name", ""))


def _content(obj: Json) -> dict[str, Any]:
    return {field: obj.get(field) or {} for field in _CONTENT[obj["kind"]]}
