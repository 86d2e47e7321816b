"""Ready means reachable: after the workloads are ready, wait until each Service of the deploy lists every ready
pod it selects among its EndpointSlices (discovery.k8s.io/v1), which kube-proxy reads.
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
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.discovery import Resource
from devstack.providers.kubernetes.watchcache import WatchCache

_POLL_S = 0.2
_SLICES = "discovery.k8s.io/v1"
_SERVICE_NAME = "kubernetes.io/service-name"  # the label tying a slice to its Service


def wait(cache: WatchCache, objects: Sequence[Json], deadline: float) -> None:
    """Until every Service in `objects` lists its ready pods; ReadinessError naming the first that does not. The
    pods are the watch cache's; the slices are asked of the server."""
    services = [o for o in objects if o.get("kind") == "Service" and (o.get("spec") or {}).get("selector")]
    if not services:
        return
    slices = cache.discovery.find(_SLICES, "EndpointSlice")
    with cache.hold({(_namespace(service), "Pod") for service in services}):
        _wait(cache, slices, services, deadline)


def _wait(cache: WatchCache, slices: Resource, services: list[Json], deadline: float) -> None:
    while services:
        missing = [(service, ips) for service in services if (ips := unlisted(cache, slices, service))]
        if not missing:
            return
        if time.monotonic() > deadline:
            service, ips = missing[0]
            raise ReadinessError(f"service/{service['metadata']['name']}",
                                 f"its endpoints do not list the ready pod(s) at {', '.join(sorted(ips))} yet")
        blocking.sleep(_POLL_S)


def unlisted(cache: WatchCache, slices: Resource, service: Json) -> set[str]:
    """The addresses of ready pods the Service selects that it does not route to yet."""
    namespace, name = _namespace(service), service["metadata"]["name"]
    wanted = {pod["status"]["podIP"] for pod in selected(cache.objects(namespace, "Pod"), service)
              if health.pod_ready(pod) and (pod.get("status") or {}).get("podIP")}
    if not wanted:
        return set()
    return wanted - _sliced(cache.api, slices, namespace, name)


def selected(pods: Sequence[Json], service: Json) -> list[Json]:
    """The pods (of the project, as the watch cache has them) that the Service's selector picks."""
    selector = ((service.get("spec") or {}).get("selector") or {}).items()
    return [pod for pod in pods if pod["metadata"].get("namespace") == _namespace(service)
            and selector <= ((pod["metadata"].get("labels") or {}).items())]


def _namespace(service: Json) -> str:
    return str(service["metadata"].get("namespace") or "default")


def _sliced(api: Api, slices: Resource, namespace: str, name: str) -> set[str]:
    found = api.call("GET", slices.collection(namespace), query=[("labelSelector", f"{_SERVICE_NAME}={name}")])
    return {address for piece in found.get("items") or [] for endpoint in piece.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") is not False
            for address in endpoint.get("addresses") or []}
