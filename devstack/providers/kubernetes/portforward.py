"""Port forwards through the API server (a pod's portforward subresource, v4.channel.k8s.io over a websocket), as
`kubectl port-forward` does, except that each new connection goes to a pod that is current at that moment: after
a restart or a rollout the next connection reaches the new pod instead of failing for good.

The daemon's forwards (observe/forwards.py) listen on 127.0.0.1 and call `connect` for each connection they accept;
the channel returned speaks the protocol: every message starts with its channel's number (0 data, 1 error), and
each channel's first message carries the port, not data.

A forward's resource names a service (its backing pod and target port are looked up), a workload or a pod:
"relay" (a service, else a workload, else a pod of that name), "svc/relay", "deployment/relay", "pod/relay-0".
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from devstack import blocking
from devstack.errors import DeployError
from devstack.providers.kubernetes import health, routing, websocket
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.render import RESOURCE

_WORKLOAD_PREFIXES = ("deployment/", "statefulset/", "daemonset/", "replicaset/", "job/")
_PROTOCOL = "v4.channel.k8s.io"
_DATA, _ERROR = 0, 1  # the channels of the one port each websocket forwards
_POLL_S = 0.25


@dataclass(frozen=True)
class Target:
    namespace: str
    resource: str
    remote: int  # the service port for a service, else the container port


class PodChannel:
    """One connection to a port of one pod (networking/channel.py's Channel)."""

    def __init__(self, ws: websocket.WebSocket, pod: str, port: int) -> None:
        self._ws, self.pod, self.port = ws, pod, port
        self._started: set[int] = set()

    async def read(self) -> bytes:
        while (message := await self._ws.receive()) is not None:
            if not message:
                continue
            channel, payload = message[0], message[1:]
            if channel not in self._started:
                self._started.add(channel)
                payload = payload[2:]
            if channel == _DATA and payload:
                return payload
            if channel == _ERROR and payload:
                # The pod's side failed (nothing listens on that port): so does this connection.
                raise DeployError(f"forward to {self.pod}:{self.port}: {payload.decode('utf-8', 'replace').strip()}")
        return b""

    async def write(self, data: bytes) -> None:
        await self._ws.send(bytes((_DATA,)) + data)

    async def write_eof(self) -> None:
        # v4.channel.k8s.io cannot half-close a stream (kubectl's SPDY streams can). Ending it here frees the
        # pod's side at once; kept open, a client that left would hold it until the server's idle timeout.
        await self._ws.close()

    async def close(self) -> None:
        await self._ws.close()


async def connect(api: Api, target: Target, pod_wait_s: float = 15.0) -> PodChannel:
    """A channel to the target's current pod, waiting up to `pod_wait_s` for a ready one (a rollout)."""
    pod, port = await blocking.call(current_pod, api, target, pod_wait_s)
    name = pod["metadata"]["name"]
    request = api.upgrade(f"/api/v1/namespaces/{target.namespace}/pods/{name}/portforward", [("ports", str(port))],
                          _PROTOCOL)
    try:
        return PodChannel(await websocket.connect(request), name, port)
    except DeployError as err:
        raise DeployError(api.scrub(f"forward to pod {name}:{port}: {err}")) from None


def current_pod(api: Api, target: Target, wait_s: float) -> tuple[Json, int]:
    """A running, ready pod behind the target now, and the port to reach in it; blocking."""
    deadline = time.monotonic() + wait_s
    while True:
        pods, port = candidates(api, target)
        ready = [p for p in pods if health.pod_ready(p)]
        if ready:
            pod = max(ready, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
            return pod, resolve_port(pod, port)
        if time.monotonic() > deadline:
            raise DeployError(f"no ready pod behind {target.resource!r} in namespace {target.namespace}")
        blocking.sleep(_POLL_S)


def candidates(api: Api, target: Target) -> tuple[list[Json], int | str]:
    """The pods behind a target and the port to reach in them (a number, or a container port's name)."""
    namespace, resource = target.namespace, target.resource
    kind, _, name = resource.rpartition("/")
    if kind in ("svc", "service", ""):
        service = api.get(f"/api/v1/namespaces/{namespace}/services/{name}")
        if service is not None:
            return _service_pods(api, service, target.remote)
        if kind:
            raise DeployError(f"forward: no service {name!r} in namespace {namespace}")
    if kind == "pod" or not kind:
        pod = api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        if pod is not None:
            return [pod], target.remote
    if f"{kind}/" in _WORKLOAD_PREFIXES or not kind:
        found = api.call("GET", f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", f"{RESOURCE}={name}")])
        return found.get("items", []), target.remote
    raise DeployError(f"forward: cannot resolve {resource!r} (use a service, pod or workload name, e.g. svc/{name})")


def resolve_port(pod: Json, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
    raise DeployError(f"pod {pod['metadata']['name']} declares no container port named {port!r}")


def _service_pods(api: Api, service: Json, remote: int) -> tuple[list[Json], int | str]:
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector:
        raise DeployError(f"service {service['metadata']['name']!r} has no selector: no pod to forward to")
    port: int | str = remote
    for declared in spec.get("ports") or []:
        if int(declared.get("port", 0)) == remote:
            port = declared.get("targetPort", remote)
    return routing.selected_pods(api, service), int(port) if str(port).isdigit() else port
