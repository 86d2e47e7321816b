"""Port forwards through the API server (a pod's portforward subresource), as `kubectl port-forward` does, except
that each new connection goes to a pod that is current at that moment: after a restart or a rollout the next
connection reaches the new pod instead of failing for good.

The daemon's forwards (observe/forwards.py) listen on 127.0.0.1 and call `Forwarder.connect` for each connection
they accept. Two ways to the pod:
  - a tunnel per pod (tunnel.py: SPDY streams in one websocket, Kubernetes 1.30 and later), kept open between
    connections: a new connection costs two frames on it;
  - one websocket per connection (v4.channel.k8s.io), where the API server does not tunnel: every message starts
    with its channel's number (0 data, 1 error), and each channel's first message carries the port, not data.

Which pod serves a target is looked up in the provider's watch cache (the service, then its ready pods; no request
to the API server) and kept for a moment (_KEEP_S), or until the provider says a deploy, a restart or a rollout
happened (`forget`), or a connection to it fails.

A forward's resource names a service (its backing pod and target port are looked up), a workload or a pod:
"relay" (a service, else a workload, else a pod of that name), "svc/relay", "deployment/relay", "pod/relay-0".
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

from devstack import blocking
from devstack.errors import DeployError
from devstack.networking.channel import Channel
from devstack.providers.kubernetes import health, routing, tunnel, websocket
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.render import RESOURCE
from devstack.providers.kubernetes.watchcache import Key, WatchCache

_WORKLOAD_PREFIXES = ("deployment/", "statefulset/", "daemonset/", "replicaset/", "job/")
_PROTOCOL = "v4.channel.k8s.io"
_DATA, _ERROR = 0, 1  # the channels of the one port each websocket forwards
# How long a looked-up pod serves its target's connections without a look again. Deploys, restarts and rollouts by
# devstack forget it at once, and a failed connection forgets its own; this bounds the rest (a pod deleted by hand
# whose connections have not failed yet).
_KEEP_S = 2.0


@dataclass(frozen=True)
class Target:  # a key of the forwarder's table of pods: frozen, hashable
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


def keys(namespace: str) -> set[Key]:
    """What the pod lookup reads of the watch cache: the namespace's Services and pods."""
    return {(namespace, "Service"), (namespace, "Pod")}


class Forwarder:
    """One provider's way to its pods: which pod serves each target, and the tunnels to them."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache, self.api = cache, cache.api
        self._tunnels = tunnel.Tunnels(cache.api)
        self._tunnelled = True  # until the API server refuses the tunnel's subprotocol
        self._pods: dict[Target, tuple[str, str, int, float]] = {}  # target → (pod, its uid, port, when looked up)
        self._targets: set[Target] = set()  # every target connected to so far: the ones whose tunnels to prepare
        self._loop: asyncio.AbstractEventLoop | None = None  # the forwards' loop, where the tunnels live
        self._lock = threading.Lock()  # forget() and prepare() come from the provider's threads

    async def connect(self, target: Target, pod_wait_s: float = 15.0) -> Channel:
        """A channel to the target's current pod, waiting up to `pod_wait_s` for a ready one (a rollout)."""
        with self._lock:
            self._targets.add(target)
            self._loop = asyncio.get_running_loop()
        pod, uid, port = await self._pod(target, pod_wait_s)
        try:
            if self._tunnelled:
                try:
                    return await self._tunnels.channel(target.namespace, pod, uid, port, lambda: self._drop(target))
                except tunnel.Refused:
                    self._tunnelled = False  # an API server before 1.30: one websocket per connection from now on
            return await _websocket(self.api, target.namespace, pod, port)
        except DeployError:
            self._drop(target)
            raise

    def forget(self) -> None:
        """Pods changed (a deploy, a restart, a rollout): the next connection looks its pod up again."""
        with self._lock:
            self._pods.clear()

    def prepare(self) -> None:
        """Open tunnels ahead to the newest running pod behind each target connected to so far (a rollout's new
        pod, before it is ready: the one a connection will go to once it is). From the provider's threads, as the
        pods change."""
        with self._lock:
            targets, loop = list(self._targets), self._loop
        if loop is None or loop.is_closed():
            return
        keys = set()
        for target in targets:
            with contextlib.suppress(DeployError):  # a target that resolves to nothing now: nothing to prepare
                running = [p for p in candidates(self.cache, target)[0] if health.pod_running(p)]
                if running:
                    keys.add((target.namespace, *_name_and_uid(_newest(running))))
        asyncio.run_coroutine_threadsafe(self._tunnels.prepare(keys), loop)

    async def close(self) -> None:
        await self._tunnels.close()

    def abort(self) -> None:
        with self._lock:
            self._loop = None  # the provider is closing: nothing more to prepare
        self._tunnels.abort()

    async def _pod(self, target: Target, wait_s: float) -> tuple[str, str, int]:
        with self._lock:
            known = self._pods.get(target)
        if known is not None and time.monotonic() - known[3] < _KEEP_S:
            return known[0], known[1], known[2]
        pod, port = await blocking.call(current_pod, self.cache, target, wait_s)
        name, uid = _name_and_uid(pod)
        with self._lock:
            self._pods[target] = (name, uid, port, time.monotonic())
            serving = {(t.namespace, p, u) for t, (p, u, _port, _at) in self._pods.items()}
        self._tunnels.retire(serving)
        return name, uid, port

    def _drop(self, target: Target) -> None:
        with self._lock:
            self._pods.pop(target, None)


async def _websocket(api: Api, namespace: str, pod: str, port: int) -> PodChannel:
    request = api.upgrade(f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward", [("ports", str(port))],
                          _PROTOCOL)
    try:
        return PodChannel(await websocket.connect(request), pod, port)
    except DeployError as err:
        raise DeployError(api.scrub(f"forward to pod {pod}:{port}: {err}")) from None


def current_pod(cache: WatchCache, target: Target, wait_s: float) -> tuple[Json, int]:
    """A running, ready pod behind the target now, and the port to reach in it; blocking, woken by the watch
    cache when the pods change (a rollout)."""
    deadline = time.monotonic() + wait_s
    with cache.hold(keys(target.namespace)), cache.changes() as changed:
        while True:
            changed.clear()
            pods, port = candidates(cache, target)
            ready = [p for p in pods if health.pod_ready(p)]
            if ready:
                pod = _newest(ready)
                return pod, resolve_port(pod, port)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeployError(f"no ready pod behind {target.resource!r} in namespace {target.namespace}")
            blocking.wait(changed, remaining)


def _newest(pods: list[Json]) -> Json:
    """The pod a rollout made last: the one connections go to once it serves."""
    return max(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))


def _name_and_uid(pod: Json) -> tuple[str, str]:
    return str(pod["metadata"]["name"]), str(pod["metadata"].get("uid", ""))


def candidates(cache: WatchCache, target: Target) -> tuple[list[Json], int | str]:
    """The pods behind a target and the port to reach in them (a number, or a container port's name)."""
    namespace, resource = target.namespace, target.resource
    kind, _, name = resource.rpartition("/")
    pods = cache.objects(namespace, "Pod")
    if kind in ("svc", "service", ""):
        service = next((s for s in cache.objects(namespace, "Service") if s["metadata"]["name"] == name), None)
        if service is not None:
            return _service_pods(pods, service, target.remote)
        if kind:
            raise DeployError(f"forward: no service {name!r} of the project in namespace {namespace}")
    if kind == "pod" or not kind:
        pod = next((p for p in pods if p["metadata"]["name"] == name), None)
        if pod is not None:
            return [pod], target.remote
    if f"{kind}/" in _WORKLOAD_PREFIXES or not kind:
        return [p for p in pods if (p["metadata"].get("labels") or {}).get(RESOURCE) == name], target.remote
    raise DeployError(f"forward: cannot resolve {resource!r} (use a service, pod or workload name, e.g. svc/{name})")


def resolve_port(pod: Json, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
    raise DeployError(f"pod {pod['metadata']['name']} declares no container port named {port!r}")


def _service_pods(pods: list[Json], service: Json, remote: int) -> tuple[list[Json], int | str]:
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector:
        raise DeployError(f"service {service['metadata']['name']!r} has no selector: no pod to forward to")
    port: int | str = remote
    for declared in spec.get("ports") or []:
        if int(declared.get("port", 0)) == remote:
            port = declared.get("targetPort", remote)
    return routing.selected(pods, service), int(port) if str(port).isdigit() else port
