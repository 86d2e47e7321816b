"""Port forwards through the API server (a pod's portforward subresource over v4.channel.k8s.io websockets), like
`kubectl port-forward`, except that each new connection goes to a pod that is current at that moment: after a
restart or a rollout the next connection reaches the new pod instead of failing for good.

Each connection gets its own websocket, read by a blocking loop of frames. (The `kubernetes` client's own
portforward waits in select() on the socket, and misses frames its websocket library has already buffered: a
server that speaks first, like SMTP, then sometimes never gets its banner through.)

    forwards = Forwards(api, targets).start()   # listens on 127.0.0.1 at once; raises when a port is taken
    ...
    forwards.close()

A target names a service (its backing pod and target port are looked up), a workload or a pod:
"relay" (a service, else a workload, else a pod of that name), "svc/relay", "deployment/relay", "pod/relay-0".
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from websocket import ABNF, WebSocketException

from devstack.errors import DeployError, DevstackError
from devstack.observe import ports
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.render import RESOURCE

OnEvent = Callable[[str, str], None]  # (resource, message), for the daemon's display
_WORKLOAD_PREFIXES = ("deployment/", "statefulset/", "daemonset/", "replicaset/", "job/")
_BUFFER = 64 * 1024
_PROTOCOL = "v4.channel.k8s.io"
_DATA, _ERROR = 0, 1  # the channels of the one port each websocket forwards
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    namespace: str
    resource: str
    local: int
    remote: int  # the service port for a service, else the container port


class Forwards:
    def __init__(self, api: Api, targets: Sequence[Target], *, on_event: OnEvent | None = None,
                 pod_wait_s: float = 15.0) -> None:
        self.api, self.targets, self.pod_wait_s = api, tuple(targets), pod_wait_s
        self._on_event = on_event or (lambda _resource, _message: None)
        self._listeners: list[socket.socket] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def start(self) -> Forwards:
        """Bind every local port first: one that is taken fails the whole start, before any traffic flows."""
        try:
            for target in self.targets:
                self._listeners.append(_listen(target))
        except DeployError:
            self.close()
            raise
        for listener, target in zip(self._listeners, self.targets, strict=True):
            threading.Thread(target=self._accept, args=(listener, target), daemon=True,
                             name=f"forward 127.0.0.1:{target.local}").start()
        return self

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            sockets = [*self._listeners, *self._connections]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket, target: Target) -> None:
        while not self._closed.is_set():
            try:
                client, _address = listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self._connections.add(client)
            threading.Thread(target=self._serve, args=(client, target), daemon=True,
                             name=f"forward {target.resource}").start()

    def _serve(self, client: socket.socket, target: Target) -> None:
        try:
            pod, port = self._pod_and_port(target)
            path = f"/api/v1/namespaces/{target.namespace}/pods/{pod['metadata']['name']}/portforward"
            error = _pump(client, self.api.websocket(path, [("ports", str(port))], _PROTOCOL))
            if error:
                self._on_event(target.resource, f"forward to {pod['metadata']['name']}:{port}: {error.strip()}")
        except (DevstackError, ApiException, OSError) as err:
            if not self._closed.is_set():
                self._on_event(target.resource, f"forward 127.0.0.1:{target.local} failed: {self.api.scrub(str(err))}")
        finally:
            with self._lock:
                self._connections.discard(client)
            client.close()

    def _pod_and_port(self, target: Target) -> tuple[Json, int]:
        """A running, ready pod behind the target now, waiting a little for one during a rollout."""
        deadline = time.monotonic() + self.pod_wait_s
        while True:
            pods, port = candidates(self.api, target)
            ready = [p for p in pods if _ready(p)]
            if ready:
                pod = max(ready, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
                return pod, resolve_port(pod, port)
            if time.monotonic() > deadline or self._closed.is_set():
                raise DeployError(f"no ready pod behind {target.resource!r} in namespace {target.namespace}")
            time.sleep(0.25)


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
    query = [("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(selector.items())))]
    found = api.call("GET", f"/api/v1/namespaces/{service['metadata']['namespace']}/pods", query=query)
    return found.get("items", []), int(port) if str(port).isdigit() else port


def _ready(pod: Json) -> bool:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ready and not pod["metadata"].get("deletionTimestamp")


def _listen(target: Target) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", target.local))
    except OSError as err:
        listener.close()
        if err.errno == errno.EADDRINUSE:
            raise DeployError(f"cannot forward 127.0.0.1:{target.local} to {target.resource}:{target.remote}: port "
                              f"{target.local} is already in use{ports.holder(target.local)}; stop what listens "
                              "there or change the forward's "
                              "`local` in devstack.toml") from None
        raise DeployError(f"cannot listen on 127.0.0.1:{target.local}: {err.strerror}") from None
    listener.listen(64)
    return listener


def _pump(client: socket.socket, websocket: Any) -> str:
    """Copy both ways until either side closes; what the error channel said, if anything. Every channel's first
    frame carries the port number, not data."""
    upstream = threading.Thread(target=_upstream, args=(client, websocket), daemon=True)
    upstream.start()
    started: set[int] = set()
    error = b""
    try:
        while True:
            opcode, frame = websocket.recv_data_frame(True)
            if opcode == ABNF.OPCODE_CLOSE:
                break
            if opcode != ABNF.OPCODE_BINARY or not frame.data:
                continue
            channel, payload = frame.data[0], frame.data[1:]
            if channel not in started:
                started.add(channel)
                payload = payload[2:]
            if channel == _DATA and payload:
                client.sendall(payload)
            elif channel == _ERROR and payload:
                error += payload
                break  # the pod's side failed (nothing listens there): so does this connection
    except (WebSocketException, OSError):
        pass
    finally:
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(WebSocketException, OSError):
            websocket.close(timeout=1)
        upstream.join(timeout=5)
    return error.decode("utf-8", "replace")


def _upstream(client: socket.socket, websocket: Any) -> None:
    try:
        while data := client.recv(_BUFFER):
            websocket.send_binary(bytes((_DATA,)) + data)
    except (WebSocketException, OSError):
        pass
    # Ends the reading loop (a blocked read wakes only on shutdown, not on close): the pod's side is done too.
    with contextlib.suppress(OSError, AttributeError):
        websocket.sock.shutdown(socket.SHUT_RDWR)
