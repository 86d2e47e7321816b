"""The project's workloads and pods as the provider reads them: what `status` says of each workload, which pods
are a workload's, and which live update and exec reach. Pure functions over the objects the watch cache (or a
list) gives."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from devstack.config.model import Forward
from devstack.errors import DeployError
from devstack.formats import reference
from devstack.providers.base import ResourceStatus
from devstack.providers.kubernetes import health, inject
from devstack.providers.kubernetes.api import Json
from devstack.providers.kubernetes.render import RESOURCE

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod")
Events = Callable[[Json], list[Json]]  # a pod → its events (for the reason a workload is not ready)


def rows(workloads: Sequence[Json], pods: Sequence[Json], forwards: Sequence[Forward], events: Events,
         grace_s: float) -> list[ResourceStatus]:
    """A row per workload of the project's own (not those a controller made: a Deployment's ReplicaSets)."""
    found = [obj for obj in workloads if not obj["metadata"].get("ownerReferences")]
    return [row(obj, pods, forwards, events, grace_s) for obj in sorted(found, key=lambda o: o["metadata"]["name"])]


def row(obj: Json, pods: Sequence[Json], forwards: Sequence[Forward], events: Events, grace_s: float) -> ResourceStatus:
    name, namespace = obj["metadata"]["name"], obj["metadata"].get("namespace", "")
    mine = [p for p in pods if p["metadata"].get("namespace") == namespace and owned(p, obj["kind"], name)]
    state = health.assess(obj, mine, events, grace_s)
    image = next((str(c.get("image", "")) for c in inject.containers(obj)), "")
    ports = tuple(f"127.0.0.1:{f.local}->{f.remote}/tcp" for f in forwards if f.resource == name)
    started = max((str(p["status"].get("startTime", "")) for p in mine
                   if p.get("status", {}).get("phase") == "Running"), default="")  # its youngest running pod
    return ResourceStatus(name=name, ready=state.ready, running=state.running, desired=state.desired,
                          image=image, updated_at=health.updated_at(obj), ports=ports,
                          message="" if state.ready else state.reason, started_at=started)


def owned(pod: Json, kind: str, name: str) -> bool:
    """The pod is the workload `kind`/`name`'s (a Pod workload: the pod itself)."""
    if kind == "Pod":
        return bool(pod["metadata"]["name"] == name)
    return bool((pod["metadata"].get("labels") or {}).get(RESOURCE) == name)


def resource_of(pod: Json) -> str:
    return str((pod["metadata"].get("labels") or {}).get(RESOURCE) or pod["metadata"]["name"])


def running(pods: Sequence[Json]) -> list[Json]:
    """The pods that run and are not being deleted: where live update and exec go."""
    return [p for p in pods
            if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def exec_target(pods: Sequence[Json], resource: str) -> tuple[str, str, str]:
    """(namespace, pod, container) where an exec in `resource` runs: the first container of a running pod."""
    found = running(pods)
    if not found:
        raise DeployError(f"{resource}: no running pod to exec in")
    pod = found[0]
    return pod["metadata"]["namespace"], pod["metadata"]["name"], pod["spec"]["containers"][0]["name"]


def running_image(pods: Sequence[Json], ref: str) -> list[tuple[Json, str]]:
    """(pod, container) of every running container whose image is `ref`."""
    found = []
    for pod in running(pods):
        for container in (pod.get("spec") or {}).get("containers") or []:
            # The image runs as built (`relay:<tag>`), or pulled from the registry (`localhost:5001/relay:<tag>`).
            image = reference.repository(str(container.get("image", "")))
            if image == reference.repository(ref) or image.endswith("/" + ref):
                found.append((pod, str(container["name"])))
    return found
