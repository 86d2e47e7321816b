"""The fake API server's state: objects by resource, a resourceVersion counter and the history watches replay,
every request received (for assertions), and what pods hold (logs, files, port handlers).

No controllers live here; fakekube_sim plays them. Tests change state through these methods directly.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    group_version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]


BUILTIN = (
    Kind("v1", "Namespace", "namespaces", False), Kind("v1", "Node", "nodes", False),
    Kind("v1", "Pod", "pods", True), Kind("v1", "Service", "services", True),
    Kind("v1", "ConfigMap", "configmaps", True), Kind("v1", "Secret", "secrets", True),
    Kind("v1", "ServiceAccount", "serviceaccounts", True), Kind("v1", "PersistentVolumeClaim",
                                                                "persistentvolumeclaims", True),
    Kind("v1", "Event", "events", True),
    Kind("apps/v1", "Deployment", "deployments", True), Kind("apps/v1", "StatefulSet", "statefulsets", True),
    Kind("apps/v1", "DaemonSet", "daemonsets", True), Kind("apps/v1", "ReplicaSet", "replicasets", True),
    Kind("batch/v1", "Job", "jobs", True), Kind("batch/v1", "CronJob", "cronjobs", True),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    Kind("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False),
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Event:
    version: int
    type: str
    kind: Kind
    obj: Json


OnChange = Callable[[str, Kind, Json], None]
PortHandler = Callable[[str, bytes], bytes]  # (pod name, data) → reply


@dataclass
class Store:
    kinds: dict[tuple[str, str], Kind] = field(default_factory=lambda: {(k.group_version, k.plural): k
                                                                         for k in BUILTIN})
    objects: dict[tuple[str, str, str, str], Json] = field(default_factory=dict)
    history: list[Event] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    logs: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # (ns, pod, container) → lines
    previous_logs: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    # When each line of `logs` was written (RFC 3339 with nanoseconds, as the kubelet stamps them).
    log_times: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    files: dict[tuple[str, str, str], dict[str, bytes]] = field(default_factory=dict)  # container filesystems
    execs: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (pod, container, command)
    port_handlers: dict[int, PortHandler] = field(default_factory=dict)
    subscribers: list[OnChange] = field(default_factory=list)
    version: int = 1
    stopping: bool = False
    expire_next_watch: bool = False  # the next watch answers 410 Gone, as when its resourceVersion is too old
    # The next N followed logs end after what they have sent so far while their container runs on, as when the
    # connection breaks or the kubelet restarts.
    cut_log_follows: int = 0
    storage_down: bool = False  # /readyz fails its etcd check (500), as a real API server's does while etcd is down
    # Called with a write's method and path before it is answered, on the request's own thread (a test holds it).
    on_write: Callable[[str, str], None] = lambda _method, _path: None
    cond: threading.Condition = field(default_factory=threading.Condition)

    def kind_of(self, name: str) -> Kind:
        return next(k for k in self.kinds.values() if k.kind == name)

    def get(self, kind: Kind, namespace: str, name: str) -> Json | None:
        with self.cond:
            found = self.objects.get(_key(kind, namespace, name))
            return copy.deepcopy(found) if found else None

    def list(self, kind: Kind, namespace: str | None) -> list[Json]:
        with self.cond:
            return [copy.deepcopy(o) for (gv, plural, ns, _), o in self.objects.items()
                    if (gv, plural) == (kind.group_version, kind.plural) and namespace in (None, ns)]

    def put(self, obj: Json) -> Json:
        """Create or replace `obj` (filling in uid, resourceVersion...), and tell watches and subscribers."""
        kind = self.kind_of(obj["kind"])
        metadata = obj.setdefault("metadata", {})
        if not kind.namespaced:
            metadata.pop("namespace", None)
        with self.cond:
            key = _key(kind, metadata.get("namespace", ""), metadata["name"])
            old = self.objects.get(key)
            metadata.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            metadata.setdefault("creationTimestamp", old["metadata"]["creationTimestamp"] if old else now())
            metadata.setdefault("generation", 1)
            self.version += 1
            metadata["resourceVersion"] = str(self.version)
            self.objects[key] = copy.deepcopy(obj)
            self._record("MODIFIED" if old else "ADDED", kind, obj)
        self._tell("MODIFIED" if old else "ADDED", kind, obj)
        if kind.kind == "CustomResourceDefinition":
            self._serve_crd(obj)
        return copy.deepcopy(obj)

    def delete(self, kind: Kind, namespace: str, name: str) -> Json | None:
        """Delete an object and, like the garbage collector, everything it owns."""
        with self.cond:
            obj = self.objects.pop(_key(kind, namespace, name), None)
            if obj is None:
                return None
            self.version += 1
            obj["metadata"]["resourceVersion"] = str(self.version)
            self._record("DELETED", kind, obj)
            owned = [(self.kinds[(gv, plural)], ns, n) for (gv, plural, ns, n), o in self.objects.items()
                     if any(ref.get("uid") == obj["metadata"]["uid"]
                            for ref in o["metadata"].get("ownerReferences") or [])]
        self._tell("DELETED", kind, obj)
        for child in owned:
            self.delete(*child)
        return obj

    def events_since(self, version: int) -> list[Event]:
        with self.cond:
            return [e for e in self.history if e.version > version]

    def add_log(self, namespace: str, pod: str, container: str, *lines: str) -> None:
        with self.cond:
            self.logs.setdefault((namespace, pod, container), []).extend(lines)
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
            self.log_times.setdefault((namespace, pod, container), []).extend(stamp for _ in lines)
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def _record(self, kind_of_event: str, kind: Kind, obj: Json) -> None:
        self.history.append(Event(self.version, kind_of_event, kind, copy.deepcopy(obj)))
        self.cond.notify_all()

    def _tell(self, kind_of_event: str, kind: Kind, obj: Json) -> None:
        for subscriber in list(self.subscribers):
            subscriber(kind_of_event, kind, copy.deepcopy(obj))

    def _serve_crd(self, crd: Json) -> None:
        spec = crd["spec"]
        version = spec["versions"][0]["name"]
        kind = Kind(f"{spec['group']}/{version}", spec["names"]["kind"], spec["names"]["plural"],
                    spec.get("scope") == "Namespaced")
        with self.cond:
            self.kinds[(kind.group_version, kind.plural)] = kind
            stored = self.objects[_key(self.kind_of("CustomResourceDefinition"), "", crd["metadata"]["name"])]
            stored["status"] = {"conditions": [{"type": "Established", "status": "True"}]}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(kind: Kind, namespace: str, name: str) -> tuple[str, str, str, str]:
    return kind.group_version, kind.plural, namespace if kind.namespaced else "", name


def matches_labels(obj: Json, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def matches_fields(obj: Json, selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        path, _, value = term.partition("=")
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if str(node) != value:
            return False
    return True
