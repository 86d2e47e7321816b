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
from devstack.providers.kubernetes.api import Api, Json, typed_items
from devstack.providers.kubernetes.discovery import Discovery, Resource

_POLL_S = 0.2
_SLICES = "discovery.k8s.io/v1"
_SERVICE_NAME = "kubernetes.io/service-name"  # the label tying a slice to its Service


def wait(api: Api, discovery: Discovery, objects: Sequence[Json], deadline: float) -> None:
    """Until every Service in `objects` lists its ready pods; ReadinessError naming the first that does not."""
    services = [o for o in objects if o.get("kind") == "Service" and (o.get("spec") or {}).get("selector")]
    if not services:
        return
    slices = discovery.find(_SLICES, "EndpointSlice")
    while services:
        missing = [(service, ips) for service in services if (ips := unlisted(api, slices, service))]
        if not missing:
            return
        if time.monotonic() > deadline:
            service, ips = missing[0]
            raise ReadinessError(f"service/{service['metadata']['name']}",
                                 f"its endpoints do not list the ready pod(s) at {', '.join(sorted(ips))} yet")
        blocking.sleep(_POLL_S)


def unlisted(api: Api, slices: Resource, service: Json) -> set[str]:
    """The addresses of ready pods the Service selects that it does not route to yet."""
    namespace, name = service["metadata"].get("namespace") or "default", service["metadata"]["name"]
    wanted = {pod["status"]["podIP"] for pod in selected_pods(api, service)
              if health.pod_ready(pod) and (pod.get("status") or {}).get("podIP")}
    if not wanted:
        return set()
    return wanted - _sliced(api, slices, namespace, name)


def selected_pods(api: Api, service: Json) -> list[Json]:
    """The pods the Service's selector picks, asked of the server by that selector."""
    selector = (service.get("spec") or {}).get("selector") or {}
    query = [("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(selector.items())))]
    namespace = service["metadata"].get("namespace") or "default"
    return typed_items(api.call("GET", f"/api/v1/namespaces/{namespace}/pods", query=query))


def _sliced(api: Api, slices: Resource, namespace: str, name: str) -> set[str]:
    found = api.call("GET", slices.collection(namespace), query=[("labelSelector", f"{_SERVICE_NAME}={name}")])
    return {address for piece in found.get("items") or [] for endpoint in piece.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") is not False
            for address in endpoint.get("addresses") or []}
