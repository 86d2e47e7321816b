"""Rewrite pod templates: devstack's image refs into every container and init container (matched by repository
name normalised as Docker does, as Tilt does: `image: relay`, `relay:latest` and `docker.io/library/relay` all
become the built `relay:<digest>`), and the labels that let devstack find the pods again.

Works in place on one object of any workload kind; objects without a pod template are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from devstack.formats import reference

Json = dict[str, Any]

# Where each workload kind keeps its pod template (the metadata + spec pair).
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
WORKLOAD_KINDS = tuple(_TEMPLATE_PATHS)
_CONTAINER_LISTS = ("initContainers", "containers")


def template_path(obj: Json) -> tuple[str, ...] | None:
    """Where a workload keeps its pod template (for a Pod: the Pod itself), or None for other kinds."""
    return _TEMPLATE_PATHS.get(str(obj.get("kind")))


def template(obj: Json) -> Json | None:
    """The pod template of a workload (for a Pod: the Pod itself), or None."""
    path = template_path(obj)
    if path is None:
        return None
    node: Any = obj
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None


def containers(obj: Json) -> Iterator[Json]:
    pod = template(obj)
    spec = pod.get("spec") if pod is not None else None
    if not isinstance(spec, dict):
        return
    for key in _CONTAINER_LISTS:
        yield from (c for c in spec.get(key) or [] if isinstance(c, dict))


def images(obj: Json, refs: Mapping[str, str]) -> list[str]:
    """Point containers whose image repository is in `refs` at the built ref; the repositories rewritten."""
    rewritten = []
    for container in containers(obj):
        image = container.get("image")
        built = reference.lookup(image, refs) if isinstance(image, str) else None
        if isinstance(image, str) and built is not None:
            container["image"] = built
            # The image exists on the nodes (loaded) or in the local registry; never ask a public registry.
            container["imagePullPolicy"] = "IfNotPresent"
            rewritten.append(reference.repository(image))
    return rewritten


def metadata_of(node: Json) -> Json:
    """A template's metadata, made a mapping where it is missing or left empty (`metadata:` with nothing
    under it is null)."""
    if not isinstance(node.get("metadata"), dict):
        node["metadata"] = {}
    metadata: Json = node["metadata"]
    return metadata


def pod_labels(obj: Json, labels: Mapping[str, str]) -> None:
    """Add labels to the pod template, so every pod it makes carries them."""
    pod = template(obj)
    if pod is None:
        return
    metadata = metadata_of(pod)
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}


def port_protocols(obj: Json) -> None:
    """Write the default `protocol: TCP` into every port of a Service and of every container. Server-side apply
    on API servers before 1.20's fix (and 1.20 itself) refuses a port without it: `protocol` is part of the
    list's merge key there ("associative list with keys has an element that omits key field"). Users should not
    have to know that."""
    ports: list[Any] = []
    if obj.get("kind") == "Service":
        ports += (obj.get("spec") or {}).get("ports") or []
    for container in containers(obj):
        ports += container.get("ports") or []
    for port in ports:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def claim_labels(obj: Json, labels: Mapping[str, str]) -> None:
    """A StatefulSet's volume claim templates: the PVCs they make are the project's too (`down --volumes`)."""
    for claim in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            metadata = metadata_of(claim)
            metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
