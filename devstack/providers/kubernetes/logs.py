"""Pod logs: the last lines of a workload's containers, and a follower that streams every container of the
project's pods as they come and go (a rollout, a restart), reading the pods from the watch cache. Secret values
are scrubbed from every line before anyone sees it.

Logs are asked with `timestamps=true`, so each line of a container starts with the time the kubelet stamped it.
A line without one is not the container's: it is the kubelet answering for the stream itself, e.g.
`rpc error: code = NotFound desc = an error occurred when try to find container "…": not found` for a container
that is gone. Such a line is never shown as the service's: for a pod going away it is dropped; a stream that
ends while its container still runs is resumed where it stopped; only one that cannot be resumed is said, as
devstack's word about the stream (LogLine.devstack).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from devstack import blocking
from devstack.errors import ApiError, DevstackError, EngineUnavailable
from devstack.formats import timestamps
from devstack.providers.base import LogLine
from devstack.providers.kubernetes import workloads
from devstack.providers.kubernetes.api import Api, Json, Stream
from devstack.providers.kubernetes.render import RESOURCE
from devstack.providers.kubernetes.watchcache import LISTED, WatchCache

OnLine = Callable[[str, LogLine], None]  # (resource, line)
_RESUMES = 5  # a stream that keeps ending while its container runs is given up after this many tries in a row
_RESUME_S = 0.5  # the first pause before a resume, doubled with each further one
_AWAY_S = 2.0  # between resumes while the API server cannot be reached
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")  # how a kubelet's time starts (RFC 3339)
_GONE_AFTER_S = 30.0  # a follow with no pod to follow for this long ends (the resource was removed)
_log = logging.getLogger(__name__)


def tail(api: Api, namespace: str, pod: str, container: str, lines: int, *, previous: bool = False) -> list[str]:
    """The last `lines` lines of one container; [] when it has none yet (or never started)."""
    query = [("container", container), ("tailLines", str(lines))] + ([("previous", "true")] if previous else [])
    try:
        text = api.text(f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query)
    except DevstackError:
        return []
    return [api.scrub(line) for line in text.splitlines()[-lines:]]


def containers(pod: Json) -> list[str]:
    spec = pod.get("spec") or {}
    return [c["name"] for key in ("initContainers", "containers") for c in spec.get(key) or []]


def of_pods(api: Api, pods: Sequence[Json], lines: int) -> list[str]:
    """The last lines of every container of these pods, prefixed with pod/container when there are several."""
    streams = [(p["metadata"]["namespace"], p["metadata"]["name"], c) for p in pods for c in containers(p)]
    if len(streams) == 1:
        return tail(api, *streams[0], lines)
    return [f"{pod}/{container}: {line}" for namespace, pod, container in streams
            for line in tail(api, namespace, pod, container, lines)]


def lines_of_pods(api: Api, pods: Sequence[Json], tail: int | None, since: float | None) -> list[LogLine]:
    """Every container's lines with the time the kubelet stamped them (`timestamps=true`); what the kubelet says
    of a pod going away is left out, and a container not started yet is said so by devstack (`unserved`)."""
    found: list[LogLine] = []
    for pod in pods:
        namespace, name, names = pod["metadata"]["namespace"], pod["metadata"]["name"], containers(pod)
        for container in names:
            query = [("container", container), ("timestamps", "true")]
            query += [("tailLines", str(tail))] if tail is not None else []
            query += [("sinceTime", timestamps.rfc3339(since))] if since is not None else []
            try:
                text = api.text(f"/api/v1/namespaces/{namespace}/pods/{name}/log", query)
            except DevstackError as err:
                found += [] if going(pod) else [unserved(pod, container, api.scrub(str(err)))]
                continue
            parsed = [stamped(api.scrub(line), name, container, len(names) > 1) for line in text.splitlines()]
            found += [line for line in parsed if not line.devstack or not going(pod)]
    return found


def unserved(pod: Json, container: str, error: str) -> LogLine:
    """devstack's word for a container whose log the cluster does not serve: not started yet, with its waiting
    reason (ContainerCreating, ImagePullBackOff), rather than the server's words; else what the server said."""
    name = pod["metadata"]["name"]
    status = (pod.get("status") or {})
    states = [s.get("state") or {} for s in (status.get("initContainerStatuses") or [])
              + (status.get("containerStatuses") or []) if s.get("name") == container]
    waiting = next((state["waiting"] for state in states if "waiting" in state), None)
    why = f"not started yet ({waiting.get('reason') or 'waiting'})" if waiting is not None else error
    return LogLine(text=f"log of {name}/{container}: {why}", source=f"{name}/{container}", devstack=True)


def stamped(line: str, pod: str, container: str, several: bool) -> LogLine:
    """A line as the API serves it with timestamps=true: 'TIME TEXT'; a line without a time is the kubelet's
    word about the stream (LogLine.devstack)."""
    time, _, text = line.partition(" ")
    if not _STAMP.match(time):
        return LogLine(text=f"log of {pod}/{container}: {line}", source=f"{pod}/{container}", devstack=True)
    return LogLine(text=text, time=time, source=f"{pod}/{container}", part=container if several else "")


def going(pod: Json | None) -> bool:
    """Gone, or being deleted: what the kubelet says of its containers now is no news."""
    return pod is None or bool(pod["metadata"].get("deletionTimestamp"))


class Follower:
    """Follows the logs of the project's pods in `namespaces` (those of one workload when `resource` is given)
    until `close()`. Pods there at the start show their lines since `since` (a Unix time) or their last
    `tail_lines`; pods and container restarts that come later show everything."""

    def __init__(self, cache: WatchCache, namespaces: Sequence[str], on_line: OnLine, *, resource: str | None = None,
                 since: float | None = None, tail_lines: int = 10) -> None:
        self.cache, self.on_line, self.tail_lines = cache, on_line, tail_lines
        self.since, self.resource = since, resource
        self._keys = {(namespace, "Pod") for namespace in namespaces}
        self._started: set[tuple[str, str, int]] = set()  # (pod uid, container, restart count)
        self._streams: list[_ContainerLog] = []
        self._lock = threading.Lock()
        self._closed = False
        self._unsubscribe: Callable[[], None] = lambda: None

    def start(self) -> Follower:
        self.cache.acquire(self._keys)
        self._unsubscribe = self.cache.subscribe(self._keys, self._changed)
        return self

    def pods(self) -> list[Json]:
        """The pods followed now ([] once closed)."""
        with self._lock:
            if self._closed:
                return []
        return [pod for namespace, _ in sorted(self._keys) for pod in self.cache.objects(namespace, "Pod")
                if self._mine(pod)]

    def pod(self, namespace: str, uid: str) -> Json | None:
        """The pod as the cache has it now; None once it is gone (or the follower closed)."""
        return next((p for p in self.pods() if p["metadata"]["namespace"] == namespace
                     and p["metadata"].get("uid") == uid), None)

    def close(self) -> None:
        """Stop every stream (their threads joined), then let go of the watch."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            streams = list(self._streams)
        self._unsubscribe()
        for stream in streams:
            stream.stop()
        self.cache.release(self._keys)

    def _mine(self, pod: Json) -> bool:
        return self.resource is None or (pod["metadata"].get("labels") or {}).get(RESOURCE) == self.resource

    def _changed(self, event: str, pod: Json) -> None:
        if event == "DELETED" or not self._mine(pod):
            return  # a deleted pod's streams end by themselves, and nothing of it is shown
        status = pod.get("status") or {}
        for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            state = container.get("state") or {}
            if "running" in state or "terminated" in state:
                self._follow(pod, container["name"], int(container.get("restartCount", 0)), recent=event == LISTED)

    def _follow(self, pod: Json, container: str, restarts: int, *, recent: bool) -> None:
        key = (str(pod["metadata"].get("uid", pod["metadata"]["name"])), container, restarts)
        with self._lock:
            if self._closed or key in self._started:
                return
            self._started.add(key)
            stream = _ContainerLog(self, pod, container, restarts, recent)
            self._streams = [s for s in self._streams if s.running] + [stream]
        stream.start()


class Follows:
    """The followed logs of one provider, each a generator of lines (`lines`); `close` ends them all, their
    streams' threads joined."""

    def __init__(self, cache: WatchCache, closed: threading.Event) -> None:
        """`closed`: set when their provider closes (`close` sets it too); no follow runs on after it."""
        self.cache, self._closed = cache, closed
        self._running: list[Follower] = []
        self._lock = threading.Lock()

    def lines(self, namespaces: Sequence[str], resource: str, since: float | None) -> Iterator[LogLine]:
        """The lines of every container of `resource`'s pods, new pods included; ends once it has had no pod
        for a while (it was removed). Blocking: the engine runs it in a thread."""
        found: queue.Queue[LogLine] = queue.Queue()
        follower = Follower(self.cache, namespaces, lambda _r, line: found.put(line), resource=resource, since=since)
        with self._lock:
            self._running.append(follower)
        try:
            follower.start()
            idle_since = time.monotonic()
            while not self._closed.is_set():
                try:
                    yield found.get(timeout=0.5)
                except queue.Empty:
                    blocking.check()
                    if follower.pods():
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > _GONE_AFTER_S:
                        return
        finally:
            follower.close()
            with self._lock:
                self._running.remove(follower)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            running = list(self._running)
        for follower in running:
            follower.close()


class _ContainerLog:
    """One container's followed log, read by a worker thread; resumed from its last line when the stream ends
    while the container still runs."""

    def __init__(self, follower: Follower, pod: Json, container: str, restarts: int, recent: bool) -> None:
        self.follower, self.container, self.restarts, self.recent = follower, container, restarts, recent
        self.namespace, self.name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.uid = str(pod["metadata"].get("uid", ""))
        self.resource, self.several = workloads.resource_of(pod), len(containers(pod)) > 1
        self._stream: Stream | None = None
        self._last = ""  # the time of the last line shown, as the kubelet wrote it: a resume starts after it
        self._skip_to: datetime | None = None  # after a resume: the lines up to here were shown already
        self._worker = blocking.Worker(f"logs {self.name}/{container}", self._run, interrupt=self._interrupt)

    @property
    def running(self) -> bool:
        return self._worker.running

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def _interrupt(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.close()

    def _run(self) -> None:
        said, failures = "", 0
        while failures <= _RESUMES:
            shown, said, away = self._read(said)
            # An API server that cannot be reached, or a kubelet it cannot reach (stopped, restarting), is no fault
            # of the stream: the log is resumed once they are back, however long that takes.
            failures = 0 if shown or away else failures + 1
            if not self._runs_on():
                return  # ended with its container (or its pod): what the kubelet said of it is no news
            _log.debug("log of %s/%s ended while the container runs (%s); resuming", self.name, self.container,
                       said or "no word")
            blocking.sleep(_AWAY_S if away else _RESUME_S * 2 ** max(failures - 1, 0))
        api = self.follower.cache.api
        self.follower.on_line(self.resource, LogLine(
            text=api.scrub(f"log of {self.name}/{self.container} ended: {said or 'the stream kept closing'}"),
            source=f"{self.name}/{self.container}", devstack=True))

    def _read(self, said: str) -> tuple[bool, str, bool]:
        """Stream until the server ends it: whether any line was shown, what the kubelet said instead, and whether
        the API server could not be reached."""
        api, shown = self.follower.cache.api, False
        try:
            self._stream = stream = api.stream(f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/log",
                                               self._query())
            if self._worker.stopping:  # stopped while connecting: the interrupt found no stream to close
                stream.close()
            for raw in stream.lines():
                blocking.check()
                line = stamped(api.scrub(raw), self.name, self.container, self.several)
                if line.devstack:
                    said = line.text
                elif self._new(line):
                    shown = True
                    self.follower.on_line(self.resource, line)
        except EngineUnavailable as err:
            return shown, str(err), True
        except ApiError as err:
            if err.status >= 500:  # the API server answers, the kubelet behind it does not (stopped, restarting)
                return shown, str(err), True
            said = str(err)
        except DevstackError as err:
            said = str(err)
        return shown, said, False

    def _query(self) -> list[tuple[str, str]]:
        query = [("container", self.container), ("follow", "true"), ("timestamps", "true")]
        if self._last:  # a resume: the server takes whole seconds; the lines shown already are skipped
            self._skip_to = timestamps.parse(self._last)
            query.append(("sinceTime", timestamps.rfc3339(self._skip_to.timestamp())))
        elif self.recent and self.follower.since is not None:
            query.append(("sinceTime", timestamps.rfc3339(self.follower.since)))
        elif self.recent:
            query.append(("tailLines", str(self.follower.tail_lines)))
        return query

    def _new(self, line: LogLine) -> bool:
        if self._skip_to is not None:
            try:
                if timestamps.parse(line.time) <= self._skip_to:
                    return False
            except ValueError:
                pass  # a time the kubelet never writes: shown rather than lost
            self._skip_to = None
        self._last = line.time
        return True

    def _runs_on(self) -> bool:
        """The container this stream follows still runs, as the watch cache sees its pod."""
        if self._worker.stopping:
            return False
        pod = self.follower.pod(self.namespace, self.uid)
        if going(pod):
            return False
        assert pod is not None
        statuses = ((pod.get("status") or {}).get("initContainerStatuses") or []) + \
            ((pod.get("status") or {}).get("containerStatuses") or [])
        return any(s["name"] == self.container and int(s.get("restartCount", 0)) == self.restarts
                   and "running" in (s.get("state") or {}) for s in statuses)
