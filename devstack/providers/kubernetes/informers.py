"""A list-then-watch cache of one collection, kept current by a worker thread (client-go calls it an informer).

It lists synchronously when started, so its objects are there on return, then watches in a `blocking.Worker`.
A watch that ends (the server's timeout) resumes from the last resourceVersion; one that expired (410 Gone) or
broke lists again, and a list tells its subscriber what went away meanwhile. The watch cache (watchcache.py)
starts one per namespace and kind and is its one subscriber.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from devstack import blocking
from devstack.errors import DevstackError
from devstack.providers.kubernetes.api import Api, Json, Stream, typed_items

OnChange = Callable[[str, Json], None]  # (ADDED | MODIFIED | DELETED, object)
_WATCH_S = 60  # the server ends each watch after this; the informer then resumes it
_RETRY_S = 1.0
_log = logging.getLogger(__name__)


class Informer:
    def __init__(self, api: Api, path: str, selector: str, on_change: OnChange) -> None:
        self.api, self.path, self.selector = api, path, selector
        self._on_change = on_change
        self._objects: dict[str, Json] = {}
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._worker = blocking.Worker(f"watch {path}", self._run, interrupt=self._interrupt)
        self._version = ""

    def start(self) -> Informer:
        """List synchronously (so the cache is filled on return), then watch in the background."""
        self._list()
        self._worker.start()
        return self

    def objects(self) -> list[Json]:
        with self._lock:
            return list(self._objects.values())

    def close(self) -> None:
        """Stop watching; returns once the worker has ended."""
        self._worker.stop()

    def _interrupt(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.close()

    def _list(self) -> None:
        found = self.api.call("GET", self.path, query=[("labelSelector", self.selector)])
        items = {key(item): item for item in typed_items(found)}
        with self._lock:
            gone = [obj for name, obj in self._objects.items() if name not in items]
            self._objects = items
        self._version = str(found.get("metadata", {}).get("resourceVersion", ""))
        for obj in gone:
            self._notify("DELETED", obj)
        for obj in items.values():
            self._notify("ADDED", obj)

    def _run(self) -> None:
        while not self._worker.stopping:
            try:
                if self._watch():  # False: the watch expired, list again
                    continue
                self._list()
            except DevstackError as err:
                if self._worker.stopping:
                    return
                _log.debug("watch of %s failed (%s); listing again", self.path, err)
                blocking.sleep(_RETRY_S)
                try:
                    self._list()
                except DevstackError:
                    continue

    def _watch(self) -> bool:
        query = [("watch", "true"), ("labelSelector", self.selector), ("resourceVersion", self._version),
                 ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(_WATCH_S))]
        self._stream = stream = self.api.stream(self.path, query, timeout_s=_WATCH_S + 10)
        if self._worker.stopping:  # stopped while connecting: the interrupt found no stream to close
            stream.close()
        try:
            for line in stream.lines():
                blocking.check()
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    return False  # a garbled stream: start over from a fresh list
                if not self._event(event):
                    return False
        finally:
            stream.close()
        return True

    def _event(self, event: Json) -> bool:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            return False  # typically 410 Gone: our resourceVersion is too old
        self._version = str(obj.get("metadata", {}).get("resourceVersion", self._version))
        if kind == "BOOKMARK":
            return True
        with self._lock:
            if kind == "DELETED":
                self._objects.pop(key(obj), None)
            else:
                self._objects[key(obj)] = obj
        self._notify(str(kind), obj)
        return True

    def _notify(self, kind: str, obj: Json) -> None:
        try:
            self._on_change(kind, obj)
        except Exception:  # a failing subscriber must not end the watch everybody else relies on
            _log.exception("informer subscriber failed on %s %s", kind, key(obj))


def key(obj: Json) -> str:
    """namespace/name: an object's identity within one kind."""
    metadata = obj.get("metadata", {})
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
