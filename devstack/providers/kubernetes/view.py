"""The project's objects on the cluster as the provider reads them, through the watch cache.

Which keys of the cache are the project's: the namespaces and workload kinds of every plan so far, with their
pods. What lasts holds its keys until `close`: the change wait the project's keys, the forwards their namespace's
Services and pods. Every other read (status, live update, exec, logs) reads the cache where it watches already
and asks the server otherwise, so a command that runs once starts no watch that outlives it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from devstack import blocking
from devstack.providers.kubernetes import workloads
from devstack.providers.kubernetes.api import Json, typed_items
from devstack.providers.kubernetes.watchcache import API_VERSIONS, Key, WatchCache


class ProjectView:
    def __init__(self, cache: WatchCache, namespace: str) -> None:
        """`namespace`: where the project's pods are looked for before any plan named one."""
        self.cache, self.namespace = cache, namespace
        self._planned: set[Key] = set()  # (namespace, workload kind) of every plan so far
        self._held: set[Key] = set()  # what is held of the watch cache until close
        self._changed: threading.Event | None = None  # set by every change the watch cache sees
        self._lock = threading.Lock()  # plan, the change wait and the forwards come from different threads

    def planned(self, keys: Iterable[Key]) -> None:
        """A plan's (namespace, workload kind): the project's from now on."""
        with self._lock:
            self._planned.update(keys)

    def keys(self) -> set[Key]:
        """The watch cache keys of the project: each planned namespace's workload kinds and its pods."""
        with self._lock:
            planned = set(self._planned)
        return planned | {(namespace, "Pod") for namespace, _ in planned}

    def namespaces(self) -> list[str]:
        return sorted({namespace for namespace, _ in self.keys()} or {self.namespace})

    def hold(self, keys: Iterable[Key]) -> None:
        """Hold these keys of the watch cache until close (each once)."""
        with self._lock:
            new = set(keys) - self._held
            self._held |= new
        try:
            self.cache.acquire(new)
        except BaseException:
            with self._lock:
                self._held -= new
            raise

    def objects(self, kind: str) -> list[Json]:
        """The project's objects of `kind`: the watch cache's when it watches them in every planned namespace (in
        the daemon it does, from the first change wait on), else asked of the server across all namespaces."""
        keys = sorted(key for key in self.keys() if key[1] == kind)
        if keys:
            seen = [self.cache.peek(namespace, kind) for namespace, _ in keys]
            if all(found is not None for found in seen):
                return [obj for found in seen for obj in found or ()]
        resource = self.cache.discovery.find(API_VERSIONS[kind], kind)
        found = self.cache.api.call("GET", resource.collection(None), query=[("labelSelector", self.cache.selector)])
        return typed_items(found)

    def workloads(self) -> list[Json]:
        """The project's workloads: of the kinds its plans have (every workload kind before the first plan)."""
        kinds = {kind for _, kind in self.keys()} or set(workloads.WORKLOAD_KINDS)
        return [obj for kind in sorted(kinds) for obj in self.objects(kind)]

    def pods_of(self, resource: str) -> list[Json]:
        """`resource`'s pods (`deployment/mail`, how two workloads of one name are told apart, is `mail`'s)."""
        return [p for p in self.objects("Pod") if workloads.resource_of(p) == resource_name(resource)]

    def wait_for_change(self, timeout_s: float) -> bool:
        """Woken by the watch cache: any change of the project's workloads or pods (held from the first call)."""
        self.hold(self.keys() or {(n, "Pod") for n in self.namespaces()})
        with self._lock:
            if self._changed is None:
                self._changed = self.cache.listen()
            changed = self._changed
        seen = blocking.wait(changed, timeout_s)
        changed.clear()
        return seen


def resource_name(resource: str) -> str:
    """`deployment/mail` → `mail`, the pods' resource label."""
    return resource.rpartition("/")[2]
