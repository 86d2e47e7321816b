"""A list-then-watch cache of one collection, kept current by a daemon thread (client-go calls it an informer).

Readiness, log following and port forwards read the cache and are woken by `on_change` instead of polling the
API. A watch that ends (server timeout) resumes from the last resourceVersion; one that expired (410 Gone) or
broke lists again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from devstack.errors import DevstackError
from devstack.providers.kubernetes.api import Api, Json, Stream, typed_items

OnChange = Callable[[str, Json], None]  # (ADDED | MODIFIED | DELETED, object)
_WATCH_S = 60  # the server ends each watch after this; the informer then resumes it
_RETRY_S = 1.0
_log = logging.getLogger(__name__)


def watch(api: Api, paths: list[str], selector: str) -> tuple[threading.Event, list[Informer]]:
    """Informers on several collections and one event that any change sets; all started, or none."""
    changed, started = threading.Event(), []
    try:
        for path in paths:
            started.append(Informer(api, path, selector, lambda _kind, _obj: changed.set()).start())
    except BaseException:
        for informer in started:
            informer.close()
        raise
    return changed, started


class Informer:
    def __init__(self, api: Api, path: str, selector: str, on_change: OnChange | None = None) -> None:
        self.api, self.path, self.selector = api, path, selector
        self._on_change = on_change
        self._objects: dict[str, Json] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None
        self._version = ""

    def start(self) -> Informer:
        """List synchronously (so the cache is filled on return), then watch in the background."""
        self._list()
        self._thread = threading.Thread(target=self._run, name=f"informer {self.path}", daemon=True)
        self._thread.start()
        return self

    def objects(self) -> list[Json]:
        with self._lock:
            return list(self._objects.values())

    def close(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _list(self) -> None:
        found = self.api.call("GET", self.path, query=[("labelSelector", self.selector)])
        items = {_key(item): item for item in typed_items(found)}
        with self._lock:
            gone = [obj for key, obj in self._objects.items() if key not in items]
            self._objects = items
        self._version = str(found.get("metadata", {}).get("resourceVersion", ""))
        for obj in gone:
            self._notify("DELETED", obj)
        for obj in items.values():
            self._notify("ADDED", obj)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                if self._watch():  # False: the watch expired, list again
                    continue
                self._list()
            except DevstackError as err:
                if self._stopped.is_set():
                    return
                _log.debug("watch of %s failed (%s); listing again", self.path, err)
                self._stopped.wait(_RETRY_S)
                try:
                    self._list()
                except DevstackError:
                    continue

    def _watch(self) -> bool:
        query = [("watch", "true"), ("labelSelector", self.selector), ("resourceVersion", self._version),
                 ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(_WATCH_S))]
        self._stream = self.api.stream(self.path, query, timeout_s=_WATCH_S + 10)
        if self._stopped.is_set():
            self._stream.close()
        try:
            for line in self._stream.lines():
                if self._stopped.is_set():
                    return True
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    return False  # a garbled stream: start over from a fresh list
                if not self._event(event):
                    return False
        finally:
            self._stream.close()
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
                self._objects.pop(_key(obj), None)
            else:
                self._objects[_key(obj)] = obj
        self._notify(str(kind), obj)
        return True

    def _notify(self, kind: str, obj: Json) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(kind, obj)
        except Exception:  # a failing subscriber must not end the watch everybody else relies on
            _log.exception("informer subscriber failed on %s %s", kind, _key(obj))


def _key(obj: Json) -> str:
    metadata = obj.get("metadata", {})
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
