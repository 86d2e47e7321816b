"""Ready means reachable: after the workloads are ready, wait until each Service of the deploy lists every ready
pod it selects among its EndpointSlices (discovery.k8s.io/v1), which kube-proxy reads; woken by the watch cache.
Until the controllers have done that, kube-proxy rejects connections to the Service ("has no endpoints":
connection refused), and a smoke test sent at once fails for no reason of the user's. (kube-proxy then programs
the node within its own sync period, 1 s at most by default, which cannot be seen from outside the node.)

Only discovery.k8s.io/v1 (served since Kubernetes 1.21): v1beta1 is gone since 1.25, and the v1 Endpoints API is
deprecated since 1.33 (the server answers each read with a warning)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from devstack import blocking
from devstack.errors import ReadinessError
from devstack.providers.kubernetes import health
from devstack.providers.kubernetes.api import Json
from devstack.providers.kubernetes.watchcache import Key, WatchCache

_RESYNC_S = 1.0  # look again without a change too: the deadline is checked between looks
_SERVICE_NAME = "kubernetes.io/service-name"  # the label tying a slice to its Service


def wait(cache: WatchCache, objects: Sequence[Json], deadline: float) -> None:
    """Until every Service in `objects` lists its ready pods; ReadinessError naming the first that does not. The
    pods and the slices are the watch cache's (the slices carry their Service's labels, the project's among them),
    so a slice's change wakes the wait at once."""
    services = _routed(objects)
    if not services:
        return
    with cache.hold(keys(objects)), cache.changes() as changed:
        while True:
            changed.clear()  # before reading: a change while looking wakes the next wait at once
            missing = [(service, ips) for service in services if (ips := unlisted(cache, service))]
            if not missing:
                return
            if time.monotonic() > deadline:
                service, ips = missing[0]
                raise ReadinessError(f"service/{service['metadata']['name']}",
                                     f"its endpoints do not list the ready pod(s) at {', '.join(sorted(ips))} yet")
            blocking.wait(changed, min(_RESYNC_S, max(deadline - time.monotonic(), 0.0)))


def keys(objects: Sequence[Json]) -> set[Key]:
    """What the wait reads of the watch cache: the pods and slices of the Services' namespaces."""
    return {(_namespace(service), kind) for service in _routed(objects) for kind in ("Pod", "EndpointSlice")}


def _routed(objects: Sequence[Json]) -> list[Json]:
    return [o for o in objects if o.get("kind") == "Service" and (o.get("spec") or {}).get("selector")]


def unlisted(cache: WatchCache, service: Json) -> set[str]:
    """The addresses of ready pods the Service selects that it does not route to yet."""
    namespace, name = _namespace(service), service["metadata"]["name"]
    wanted = {pod["status"]["podIP"] for pod in selected(cache.objects(namespace, "Pod"), service)
              if health.pod_ready(pod) and (pod.get("status") or {}).get("podIP")}
    if not wanted:
        return set()
    slices = [piece for piece in cache.objects(namespace, "EndpointSlice")
              if (piece["metadata"].get("labels") or {}).get(_SERVICE_NAME) == name]
    return wanted - _sliced(slices)


def selected(pods: Sequence[Json], service: Json) -> list[Json]:
    """The pods (of the project, as the watch cache has them) that the Service's selector picks."""
    selector = ((service.get("spec") or {}).get("selector") or {}).items()
    return [pod for pod in pods if pod["metadata"].get("namespace") == _namespace(service)
            and selector <= ((pod["metadata"].get("labels") or {}).items())]


def _namespace(service: Json) -> str:
    return str(service["metadata"].get("namespace") or "default")


def _sliced(slices: Sequence[Json]) -> set[str]:
    return {address for piece in slices for endpoint in piece.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") is not False
            for address in endpoint.get("addresses") or []}
