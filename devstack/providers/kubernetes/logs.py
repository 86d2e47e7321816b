"""Pod logs: the last lines of a workload's containers, and a follower that streams every container of every
managed pod, picking up new pods (a rollout, a restart) as they start. Secret values are scrubbed from every
line before anyone sees it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from devstack import labels
from devstack.errors import DevstackError
from devstack.formats import timestamps
from devstack.providers.base import LogLine
from devstack.providers.kubernetes.api import Api, Json, Stream
from devstack.providers.kubernetes.informers import Informer
from devstack.providers.kubernetes.render import RESOURCE

OnLine = Callable[[str, LogLine], None]  # (resource, line)
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
    """Every container's lines with the time the kubelet stamped them (`timestamps=true`)."""
    found: list[LogLine] = []
    for pod in pods:
        namespace, name, names = pod["metadata"]["namespace"], pod["metadata"]["name"], containers(pod)
        for container in names:
            query = [("container", container), ("timestamps", "true")]
            query += [("tailLines", str(tail))] if tail is not None else []
            query += [("sinceTime", timestamps.rfc3339(since))] if since is not None else []
            try:
                text = api.text(f"/api/v1/namespaces/{namespace}/pods/{name}/log", query)
            except DevstackError:
                continue
            found += [stamped(api.scrub(line), name, container, len(names) > 1) for line in text.splitlines()]
    return found


def stamped(line: str, pod: str, container: str, several: bool) -> LogLine:
    """A line as the API serves it with timestamps=true: 'TIME TEXT'."""
    time, _, text = line.partition(" ")
    return LogLine(text=text, time=time, source=f"{pod}/{container}", part=container if several else "")


def resource_of(pod: Json) -> str:
    return str((pod["metadata"].get("labels") or {}).get(RESOURCE) or pod["metadata"]["name"])


class Follower:
    """Follows the logs of the project's pods in `namespaces` (those of one workload when `resource` is given)
    until `close()`. Pods found at the start show their lines since `since` (a Unix time) or their last
    `tail_lines`; pods and container restarts that come later show everything."""

    def __init__(self, api: Api, namespaces: Sequence[str], project: str, on_line: OnLine, *,
                 resource: str | None = None, since: float | None = None, tail_lines: int = 10) -> None:
        self.api, self.on_line, self.tail_lines = api, on_line, tail_lines
        self.since = since
        selector = labels.selector(project) + (f",{RESOURCE}={resource}" if resource else "")
        self._informers = [Informer(api, f"/api/v1/namespaces/{ns}/pods", selector, self._changed)
                           for ns in namespaces]
        self._started: set[tuple[str, str, int]] = set()  # (pod uid, container, restart count)
        self._streams: list[Stream] = []
        self._lock = threading.Lock()
        self._closed = False
        self._initial = True  # pods found by the first list: show their recent lines only

    def start(self) -> Follower:
        for informer in self._informers:
            informer.start()
        self._initial = False
        return self

    def pods(self) -> list[Json]:
        return [pod for informer in self._informers for pod in informer.objects()]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for informer in self._informers:
            informer.close()
        for stream in streams:
            stream.close()

    def _changed(self, kind: str, pod: Json) -> None:
        if kind == "DELETED":
            return
        statuses = (pod.get("status") or {}).get("initContainerStatuses", []) + \
            (pod.get("status") or {}).get("containerStatuses", [])
        for status in statuses or []:
            state = status.get("state") or {}
            if "running" in state or "terminated" in state:
                self._follow(pod, status["name"], int(status.get("restartCount", 0)))

    def _follow(self, pod: Json, container: str, restarts: int) -> None:
        key = (str(pod["metadata"].get("uid", pod["metadata"]["name"])), container, restarts)
        with self._lock:
            if self._closed or key in self._started:
                return
            self._started.add(key)
        recent = self._initial
        thread = threading.Thread(target=self._stream, args=(pod, container, recent), daemon=True,
                                  name=f"logs {pod['metadata']['name']}/{container}")
        thread.start()

    def _stream(self, pod: Json, container: str, recent: bool) -> None:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        query = [("container", container), ("follow", "true"), ("timestamps", "true")]
        if recent and self.since is not None:
            query.append(("sinceTime", timestamps.rfc3339(self.since)))
        elif recent:
            query.append(("tailLines", str(self.tail_lines)))
        several = len(containers(pod)) > 1
        try:
            stream = self.api.stream(f"/api/v1/namespaces/{namespace}/pods/{name}/log", query)
            with self._lock:
                if self._closed:
                    stream.close()
                    return
                self._streams.append(stream)
            for line in stream.lines():
                self.on_line(resource_of(pod), stamped(self.api.scrub(line), name, container, several))
        except DevstackError as err:
            _log.debug("log stream of %s/%s ended: %s", name, container, err)
