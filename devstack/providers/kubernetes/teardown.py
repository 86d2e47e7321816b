"""`down`: delete every object carrying the project's label, and only those, found by label (so it works after a
crash) across all namespaces and kinds. Idempotent.

Data is kept unless asked: PersistentVolumeClaims go only with --volumes, and a namespace devstack created is
deleted only when no claim is left in it (deleting a namespace deletes its claims). Objects owned by another
(a Deployment's ReplicaSets and pods) go with their owner. `--cluster` deletes a kind/k3d/minikube cluster
devstack manages instead.
"""

from __future__ import annotations

import time

from devstack import blocking
from devstack.images import build, docker_engine
from devstack.providers.base import DownOptions, DownReport
from devstack.providers.kubernetes import apply
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.clusters import Cluster
from devstack.providers.kubernetes.discovery import Discovery

_LAST = ("Namespace", "CustomResourceDefinition")  # deleting these first would take the rest along unasked
_GONE_WAIT_S = 120.0  # pods get their termination grace period (30 s by default), namespaces then finalize
_KEPT_UNLESS_DELETED = ("PersistentVolumeClaim", "Namespace")  # what down may keep on purpose (no --volumes)


def down(api: Api, discovery: Discovery, project: str, options: DownOptions) -> DownReport:
    report = DownReport()
    found = [(r, o) for r, o in apply.labelled(api, discovery, project) if not o["metadata"].get("ownerReferences")]
    found.sort(key=lambda item: item[0].kind in _LAST)
    for resource, obj in found:
        if resource.kind == "PersistentVolumeClaim" and not options.volumes:
            continue
        if resource.kind == "Namespace" and not options.volumes and _claims(api, obj):
            report.notes.append(f"kept namespace {obj['metadata']['name']}: it holds PersistentVolumeClaims "
                                "(`devstack down --volumes` removes them)")
            continue
        report.count(resource.plural, apply.delete(api, resource, obj))
    _wait_gone(api, discovery, project, report)
    kept = sum(1 for r, _ in found if r.kind == "PersistentVolumeClaim") if not options.volumes else 0
    if kept:
        report.notes.append(f"kept {kept} PersistentVolumeClaim(s) and their data (`devstack down --volumes` "
                            "removes them)")
    if options.images:
        remove_images(project, report)
    return report


def _wait_gone(api: Api, discovery: Discovery, project: str, report: DownReport) -> None:
    """Return once what was deleted is gone, the pods the garbage collector removes after their owners and the
    namespaces included: a new deploy right after `down` could not create anything in a terminating namespace."""
    deadline = time.monotonic() + _GONE_WAIT_S
    while True:
        left = [f"{r.kind} {o['metadata']['name']}" for r, o in apply.labelled(api, discovery, project)
                if o["metadata"].get("deletionTimestamp") or r.kind not in _KEPT_UNLESS_DELETED]
        if not left:
            return
        if time.monotonic() > deadline:
            report.notes.append(f"still terminating after {_GONE_WAIT_S:.0f}s: {', '.join(sorted(left)[:5])}")
            return
        blocking.sleep(0.5)


def delete_cluster(cluster: Cluster, project: str, options: DownOptions) -> DownReport:
    report = DownReport()
    if cluster.exists():
        cluster.delete()
        report.count("clusters")
    else:
        report.notes.append(f"cluster behind context {cluster.context!r} does not exist")
    if options.images:
        remove_images(project, report)
    return report


def remove_images(project: str, report: DownReport) -> None:
    """The images devstack built for the project, from the local engine (the cluster's copies go with it)."""
    removed, kept = build.remove_project_images(docker_engine.connect(), project)
    report.count("images", removed)
    report.notes.extend(kept)


def _claims(api: Api, namespace: Json) -> bool:
    found = api.call("GET", f"/api/v1/namespaces/{namespace['metadata']['name']}/persistentvolumeclaims")
    return bool(found.get("items"))

