"""A service's log lines with what the engine knows of each: the time it stamped, the task that wrote it, and
whether it came on stdout or stderr.

The engine serves a service's logs as multiplexed frames (an 8-byte header: the stream, then the length) when
the container has no TTY; with `details` and `timestamps` each line reads 'TIME DETAILS TEXT', where DETAILS
are comma-separated key=value pairs naming the task. docker-py's own helper drops the frames' stream, so the
frames are read here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import docker

from devstack.providers.base import LogLine

_HEADER = struct.Struct(">BxxxL")
_STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}
_TASK = "com.docker.swarm.task.id"


def lines(client: docker.DockerClient, service: str, *, tail: int | None, since: float | None,
          follow: bool) -> Iterator[LogLine]:
    api = client.api
    params = {"details": True, "follow": follow, "stdout": True, "stderr": True, "timestamps": True,
              "tail": "all" if tail is None else str(tail), "since": f"{since:.6f}" if since else 0}
    spec = api.inspect_service(service)["Spec"]["TaskTemplate"]["ContainerSpec"]
    response = api._get(api._url("/services/{0}/logs", service), params=params, stream=True)
    api._raise_for_status(response)
    if follow:  # a quiet service sends nothing for minutes: that is no reason to give up (docker-py does the same)
        api._disable_socket_timeout(api._get_raw_response_socket(response))
    names = _TaskNames(client, service)
    pending: dict[str, bytes] = {}
    for stream, data in _frames(response, tty=bool(spec.get("TTY"))):
        *complete, pending[stream] = (pending.get(stream, b"") + data).split(b"\n")
        for raw in complete:
            yield parse(raw.decode("utf-8", "replace").rstrip("\r"), stream, names)
    for stream, rest in pending.items():
        if rest:
            yield parse(rest.decode("utf-8", "replace").rstrip("\r"), stream, names)


def parse(line: str, stream: str, names: _TaskNames | None = None) -> LogLine:
    """'TIME DETAILS TEXT' → a LogLine whose source is the task's name (service.slot.task, as docker shows it)."""
    time, _, rest = line.partition(" ")
    details, _, text = rest.partition(" ")
    pairs = dict(pair.partition("=")[::2] for pair in details.split(",") if "=" in pair)
    if _TASK not in pairs:  # no details: the whole rest is the text
        return LogLine(text=rest, time=time, stream=stream)
    task = pairs[_TASK]
    return LogLine(text=text, time=time, stream=stream, source=names.name(task) if names else task)


class _TaskNames:
    """Task ids → 'service.slot.id', as `docker service logs` shows them; looked up once per unknown id."""

    def __init__(self, client: docker.DockerClient, service: str) -> None:
        self.client, self.service = client, service
        self.known: dict[str, str] = {}

    def name(self, task: str) -> str:
        if task not in self.known:
            try:
                found = self.client.api.tasks(filters={"id": task})
            except docker.errors.APIError:
                found = []
            # A replicated service's task has a slot; a global one's is known by its node, as docker shows it.
            where = (found[0].get("Slot") or found[0].get("NodeID", "?")[:12]) if found else "?"
            self.known[task] = f"{self.service}.{where}.{task[:12]}"
        return self.known[task]


def _frames(response: Any, *, tty: bool) -> Iterator[tuple[str, bytes]]:
    """(stream, data) pieces of the response: a TTY's output is one unframed stream."""
    raw = response.raw
    if tty:
        while chunk := raw.read1(65536) if hasattr(raw, "read1") else raw.read(4096):
            yield "stdout", chunk
        return
    while header := raw.read(_HEADER.size):
        stream, length = _HEADER.unpack(header)
        data = raw.read(length) if length else b""
        if length and not data:
            return
        yield _STREAMS.get(stream, "stdout"), data
