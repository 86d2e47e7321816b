"""The provider's one view of the cluster's objects: a watch per namespace and kind, shared by every reader.

Readiness, the log followers, `status`, the change wait, live update and the forwards' pod lookup all read here
instead of asking the API server or watching on their own. A reader `hold`s the keys it needs: the first hold of
a key lists and starts its watch (an `Informer`), the last release stops it (its thread joined), so one command
that waits once leaves nothing running, and the daemon, which holds its project's keys for its life, watches each
collection once however many readers it has.

    with cache.hold({("demo", "Deployment"), ("demo", "Pod")}), cache.changes() as changed:
        pods = cache.objects("demo", "Pod")
        blocking.wait(changed, 5.0)          # woken by any change of a held collection

Only the project's objects are watched (its label selector): what devstack deployed, not the whole namespace.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Iterator

from devstack.providers.kubernetes import informers
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.discovery import Discovery

Key = tuple[str, str]  # (namespace, kind)
Listener = Callable[[str, Json], None]  # (ADDED | MODIFIED | DELETED | LISTED, object)
API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
                "Job": "batch/v1", "Pod": "v1", "Service": "v1", "EndpointSlice": "discovery.k8s.io/v1"}
LISTED = "LISTED"  # a subscriber's first look at an object that was there before it subscribed


class WatchCache:
    def __init__(self, api: Api, discovery: Discovery, selector: str) -> None:
        self.api, self.discovery, self.selector = api, discovery, selector
        self._informers: dict[Key, informers.Informer] = {}
        self._holds: dict[Key, int] = {}
        self._listeners: dict[Key, list[Listener]] = {}
        self._changed: list[threading.Event] = []
        # (namespace, kind, name) → (uid, generation) of devstack's last write of the object
        self._written: dict[tuple[str, str, str], tuple[str, int]] = {}
        self._lock = threading.Lock()  # the maps above
        self._starting = threading.Lock()  # one hold or release at a time: a key starts (lists) once

    @contextlib.contextmanager
    def hold(self, keys: Collection[Key]) -> Iterator[None]:
        self.acquire(keys)
        try:
            yield
        finally:
            self.release(keys)

    def acquire(self, keys: Collection[Key]) -> None:
        """Watch these keys until released (as often as acquired); all started, or none (the error raised)."""
        started: list[Key] = []
        with self._starting:
            try:
                for key in sorted(set(keys)):
                    if self._holds.get(key, 0) == 0:
                        self._start(key)
                    started.append(key)
                    self._holds[key] = self._holds.get(key, 0) + 1
            except BaseException:
                self._drop(started)
                raise

    def release(self, keys: Collection[Key]) -> None:
        with self._starting:
            self._drop(sorted(set(keys)))

    def objects(self, namespace: str, kind: str) -> list[Json]:
        """The project's objects of `kind` in `namespace` as last seen; the key must be held."""
        with self._lock:
            informer = self._informers.get((namespace, kind))
        if informer is None:
            raise RuntimeError(f"watch cache: {kind} in {namespace} is read without a hold")
        return informer.objects()

    def wrote(self, obj: Json) -> None:
        """A write of ours, as the server answered it. Its watch event comes a moment later (later still on a
        loaded machine), and until then the cache holds the object as it was: a rollout just asked for would
        look done already. Readiness asks `behind` until the watch has caught up."""
        key, uid, generation = _written(obj)
        with self._lock:
            self._written[key] = (uid, generation)  # our writes are answered in their order: the last one counts

    def behind(self, obj: Json) -> bool:
        """Whether this object, as the cache holds it, predates the spec we last wrote to it (or is an object of
        that name from before we created it anew)."""
        key, uid, generation = _written(obj)
        with self._lock:
            wrote = self._written.get(key)
        return wrote is not None and (uid != wrote[0] or generation < wrote[1])

    def peek(self, namespace: str, kind: str) -> list[Json] | None:
        """The objects when somebody holds the key now, else None (then ask the server)."""
        with self._lock:
            informer = self._informers.get((namespace, kind))
        return None if informer is None else informer.objects()

    def subscribe(self, keys: Collection[Key], listener: Listener) -> Callable[[], None]:
        """Call `listener` on every change of the held `keys`, after a LISTED call for each object there already;
        the function returned unsubscribes it. It runs on the watch's thread: it must not block."""
        replay: list[Json] = []
        with self._lock:
            for key in set(keys):
                self._listeners.setdefault(key, []).append(listener)
                replay += self._informers[key].objects()
        for obj in replay:
            listener(LISTED, obj)

        def unsubscribe() -> None:
            with self._lock:
                for key in set(keys):
                    with contextlib.suppress(ValueError):
                        self._listeners.get(key, []).remove(listener)

        return unsubscribe

    @contextlib.contextmanager
    def changes(self) -> Iterator[threading.Event]:
        """An event any change of any held key sets (the waiter clears it), for the length of a wait."""
        changed = self.listen()
        try:
            yield changed
        finally:
            with self._lock:
                self._changed.remove(changed)

    def listen(self) -> threading.Event:
        """An event any change of any held key sets, for as long as the cache lives (the provider's change wait)."""
        changed = threading.Event()
        with self._lock:
            self._changed.append(changed)
        return changed

    def close(self) -> None:
        """Stop every watch, whoever held it (the provider is done)."""
        with self._starting:
            self._drop(list(self._holds), everything=True)

    def _start(self, key: Key) -> None:
        namespace, kind = key
        path = self.discovery.find(API_VERSIONS[kind], kind).collection(namespace)
        informer = informers.Informer(self.api, path, self.selector, lambda event, obj: self._notify(key, event, obj))
        with self._lock:
            self._informers[key] = informer
        try:
            informer.start()
        except BaseException:
            with self._lock:
                del self._informers[key]
            raise

    def _drop(self, keys: list[Key], *, everything: bool = False) -> None:
        stopped = []
        for key in keys:
            self._holds[key] = 0 if everything else self._holds.get(key, 1) - 1
            if self._holds[key] <= 0:
                del self._holds[key]
                with self._lock:
                    stopped.append(self._informers.pop(key))
                    self._listeners.pop(key, None)
        for informer in stopped:
            informer.close()

    def _notify(self, key: Key, event: str, obj: Json) -> None:
        with self._lock:
            listeners = list(self._listeners.get(key, ()))
            changed = list(self._changed)
        for listener in listeners:
            listener(event, obj)
        for waiter in changed:
            waiter.set()


def _written(obj: Json) -> tuple[tuple[str, str, str], str, int]:
    meta = obj.get("metadata") or {}
    key = (str(meta.get("namespace", "")), str(obj.get("kind", "")), str(meta.get("name", "")))
    return key, str(meta.get("uid", "")), int(meta.get("generation", 0))
