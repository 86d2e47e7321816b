"""Apply a rendered deploy with server-side apply (field manager `devstack`), in order, creating missing namespaces
first; then remove what an earlier deploy of the project made and this one no longer has. Everything is found by
label, never from memory.

Conflicts are not forced: a field that someone changed outside devstack (`kubectl scale`, `kubectl edit`, an
autoscaler) and that the manifests also set is reported with the other field manager's name, never silently
taken back.

`restart` makes new pods of the same spec, as `kubectl rollout restart` does."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from devstack import blocking, labels
from devstack.errors import ApiError, DeployError
from devstack.providers.kubernetes.api import APPLY_PATCH, Api, Json
from devstack.providers.kubernetes.discovery import Discovery, Resource
from devstack.providers.kubernetes.render import Rendered, rank

FIELD_MANAGER = "devstack"
_CRD_WAIT_S = 30.0
# Deleting these loses data or takes the whole namespace along: `down` removes them only when asked (PVCs)
# or when nothing else is left (namespaces); a redeploy never prunes them.
KEPT = ("PersistentVolumeClaim", "Namespace", "CustomResourceDefinition")
RESTARTABLE = ("Deployment", "StatefulSet", "DaemonSet")
_RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # kubectl's own: other tools show it the same way
Written = Callable[[Json], None]  # an object as the server answered a write of it (WatchCache.wrote)
_PARALLEL = 4  # writes under way at once: the API client keeps as many connections (api._POOL_SIZE)


def is_current(api: Api, discovery: Discovery, rendered: Rendered) -> bool:
    """True when every object exists and carries this deploy's digest."""
    for obj in rendered.objects:
        found = _live(api, discovery, obj)
        if found is None or (found["metadata"].get("labels") or {}).get(labels.DIGEST) != rendered.digest:
            return False
    return True


def apply(api: Api, discovery: Discovery, rendered: Rendered, project: str,
          written: Written = lambda _obj: None) -> list[str]:
    """Apply every object, each as the server answered told to `written`; the server's warnings, one line per
    warning text naming where it came from."""
    stages = _stages(rendered)
    if len(stages) > 1 and _all_present(api, discovery, rendered):
        # The ranks order creations (what others refer to exists first, namespaces included). A redeploy that
        # creates nothing (a rebuild's new tag, a config edit) writes everything at once, the workloads first:
        # their rollouts no longer wait a round trip a rank.
        stages = [[item for stage in reversed(stages) for item in stage]]
    else:
        for namespace in rendered.namespaces:
            ensure_namespace(api, namespace, project)
    warned: dict[str, list[str]] = {}
    for stage in stages:
        # One rank's objects at once (a project's twenty objects were twenty round trips in a row); the ranks in
        # order, so that what others refer to exists first. The first failure in the manifests' order is the one
        # reported, after the rest of its rank were answered.
        resources = [discovery.find(obj["apiVersion"], obj["kind"]) for obj, _source in stage]
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(stage))) as pool:
            answers = list(pool.map(lambda resource, item: _apply_one(api, resource, item[0], item[1], written),
                                    resources, stage))
        for (obj, source), resource, texts in zip(stage, resources, answers, strict=True):
            for text in texts:
                warned.setdefault(text, []).append(f"{source} ({obj['kind']} {obj['metadata']['name']})")
            if obj["kind"] == "CustomResourceDefinition":
                _wait_established(api, resource, obj["metadata"]["name"])
    return [f"the API server warns: {text} (in {', '.join(where)})" for text, where in warned.items()]


def _all_present(api: Api, discovery: Discovery, rendered: Rendered) -> bool:
    """Whether the server has every object already (looked up at once)."""
    def present(obj: Json) -> bool:
        try:
            return _live(api, discovery, obj) is not None
        except DeployError:  # a custom resource whose CRD this deploy installs
            return False

    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        return all(pool.map(present, rendered.objects))


def _live(api: Api, discovery: Discovery, obj: Json) -> Json | None:
    """The server's copy of a rendered object, None when it has none (DeployError: a kind it does not serve)."""
    resource = discovery.find(obj["apiVersion"], obj["kind"])
    return api.get(resource.item(obj["metadata"].get("namespace"), obj["metadata"]["name"]))


def _stages(rendered: Rendered) -> list[list[tuple[Json, str]]]:
    """The rendered objects with their sources, in runs of one apply rank (render sorted them by rank)."""
    stages: list[list[tuple[Json, str]]] = []
    for obj, source in zip(rendered.objects, rendered.sources, strict=True):
        if not stages or rank(stages[-1][0][0]["kind"]) != rank(obj["kind"]):
            stages.append([])
        stages[-1].append((obj, source))
    return stages


def ensure_namespace(api: Api, name: str, project: str) -> None:
    """Create it, labelled as the project's, when missing; an existing namespace is left as it is."""
    if api.get(f"/api/v1/namespaces/{name}") is not None:
        return
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {labels.PROJECT: project}}}
    try:
        api.call("POST", "/api/v1/namespaces", body=body)
    except ApiError as err:
        if err.status != 409:  # created meanwhile
            raise DeployError(f"cannot create namespace {name!r}: {err}") from None


def prune(api: Api, discovery: Discovery, rendered: Rendered, project: str,
          kinds: Sequence[Resource] | None = None) -> tuple[Resource, ...]:
    """Delete the project's objects from earlier deploys that this one no longer defines. `kinds`: look only in
    these (None: in every kind the server lists, one request each: a second or so on a busy machine). Returns the
    kinds a later prune of the same project needs to look in: those where this one found objects it may delete
    one day, and those of this deploy."""
    keep: dict[tuple[str, str], Resource] = {}
    for obj in rendered.objects:
        resource = discovery.find(obj["apiVersion"], obj["kind"])
        keep[(resource.group, resource.kind)] = resource
    for resource, obj in labelled(api, discovery, project, kinds):
        if resource.kind in KEPT or obj["metadata"].get("ownerReferences"):
            continue  # never pruned; an owned object goes with its owner
        keep.setdefault((resource.group, resource.kind), resource)
        if (obj["metadata"].get("labels") or {}).get(labels.DIGEST) != rendered.digest:
            delete(api, resource, obj)
    return tuple(r for r in keep.values() if r.kind not in KEPT)


def labelled(api: Api, discovery: Discovery, project: str,
             kinds: Sequence[Resource] | None = None) -> Iterator[tuple[Resource, Json]]:
    """Every object carrying the project's label, in every namespace, of every kind the server lists (or of
    `kinds`)."""
    for resource in discovery.sweepable() if kinds is None else kinds:
        try:
            found = api.call("GET", resource.collection(None), query=[("labelSelector", labels.selector(project))])
        except ApiError as err:
            if err.status in (403, 404, 405):  # not ours to list (RBAC) or not listable across namespaces
                continue
            raise
        for item in found.get("items", []):
            yield resource, item


def delete(api: Api, resource: Resource, obj: Json) -> int:
    """1 when deleted now, 0 when it was gone already. Dependents go too (background propagation)."""
    path = resource.item(obj["metadata"].get("namespace"), obj["metadata"]["name"])
    try:
        api.call("DELETE", path, body={"kind": "DeleteOptions", "apiVersion": "v1",
                                       "propagationPolicy": "Background"})
    except ApiError as err:
        if err.status == 404:
            return 0
        raise DeployError(f"cannot delete {resource.kind} {obj['metadata']['name']!r}: {err}") from None
    return 1


# Kubernetes 1.20's StatefulSet controller takes ownership of `.spec.volumeClaimTemplates` with every status update
# (the templates it sends back carry server defaults), so any later apply of a StatefulSet with claim templates
# conflicts with it. The field cannot change after creation anyway (the server refuses that), so taking it back
# is safe; that one conflict alone is forced, nothing else.
_CLAIM_TEMPLATES_CONFLICT = re.compile(r'.*Apply failed with 1 conflict: conflict with "kube-controller-manager"'
                                       r"(?: using [^:]+)?: \.spec\.volumeClaimTemplates\s*", re.DOTALL)


def _apply_one(api: Api, resource: Resource, obj: Json, source: str, written: Written) -> list[str]:
    """Apply one object; the warnings the server gave."""
    path = resource.item(obj["metadata"].get("namespace"), obj["metadata"]["name"])
    query = [("fieldManager", FIELD_MANAGER)]
    warnings: list[str] = []
    try:
        try:
            written(api.call("PATCH", path, query=query, body=obj, content_type=APPLY_PATCH, warnings=warnings))
        except ApiError as err:
            if err.status != 409 or not _CLAIM_TEMPLATES_CONFLICT.fullmatch(str(err)):
                raise
            written(api.call("PATCH", path, query=[*query, ("force", "true")], body=obj, content_type=APPLY_PATCH,
                             warnings=warnings))
    except ApiError as err:
        what = f"{source}: applying {obj['kind']} {obj['metadata']['name']!r}"
        if err.status == 409:
            raise DeployError(
                f"{what}: conflict with another field manager: {err}\n"
                "  a field these manifests set was changed outside devstack, which does not overwrite it: revert "
                "that change, remove the field from the manifest, or delete the object; then save again") from None
        raise DeployError(f"{what} failed: {err}") from None
    return warnings


def _wait_established(api: Api, resource: Resource, name: str) -> None:
    """Custom resources of a new CRD can be applied only once the server serves the kind."""
    deadline = time.monotonic() + _CRD_WAIT_S
    while time.monotonic() < deadline:
        crd = api.get(resource.item(None, name)) or {}
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        blocking.sleep(0.2)
    raise DeployError(f"CustomResourceDefinition {name!r} was not established within {_CRD_WAIT_S:.0f}s")


def restart(api: Api, discovery: Discovery, candidates: Sequence[Json], resource: str,
            written: Written = lambda _obj: None) -> None:
    """New pods of `resource` (one of `candidates`, the project's restartable workloads): a changed pod template
    annotation."""
    found = [obj for obj in candidates if obj["metadata"]["name"] == resource]
    if not found:
        raise DeployError(f"cannot restart {resource!r}: no Deployment, StatefulSet or DaemonSet of that name")
    obj = found[0]
    patch = {"spec": {"template": {"metadata": {"annotations": {_RESTARTED_AT: datetime.now(UTC).isoformat()}}}}}
    path = discovery.find(obj["apiVersion"], obj["kind"]).item(obj["metadata"]["namespace"], resource)
    written(api.call("PATCH", path, query=[("fieldManager", "devstack-restart")], body=patch,
                     content_type="application/strategic-merge-patch+json"))
