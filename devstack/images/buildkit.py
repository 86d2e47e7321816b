"""Builds through BuildKit, the Docker engine's own second builder (on Linux engines since 18.09: the build API's
`version=2`), with the context as the request's body, as the classic builder takes it: no session (the gRPC
stream the docker CLI opens for a context on disk) is needed.

Why: the classic builder commits a container for every instruction after the first one that changed (USER,
EXPOSE, HEALTHCHECK, CMD, LABEL: 0.2–0.5 s each on a busy machine, most of a small rebuild); BuildKit turns those
into metadata and runs independent stages side by side. `DOCKER_BUILDKIT=0` chooses the classic builder, as it
does for the docker CLI.

Progress comes back as `moby.buildkit.trace` messages, each a base64 protobuf StatusResponse, read here by field
number (BuildKit's control.proto):
    StatusResponse { repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2; repeated VertexLog logs = 3 }
    Vertex { string digest = 1; string name = 3; bool cached = 4; Timestamp started = 5; Timestamp completed = 6;
             string error = 7 }
    VertexLog { string vertex = 1; bytes msg = 4 }
and shown as the CLI's plain progress shows it: "#3 [2/4] COPY relay.py ./", "#3 DONE", "#4 <a RUN's output>".
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import docker

from devstack.formats import protowire

TRACE = "moby.buildkit.trace"
_MIN_API = (1, 39)  # Docker 18.09: the build API takes version=2
_STEP = re.compile(r"^\[(?:(?P<stage>\S+) )?(?P<n>\d+)/(?P<of>\d+)\] (?P<what>.*)$", re.S)
# What BuildKit puts before the reason a build failed: the frontend's and the solver's names, not the reason.
_WRAPPERS = re.compile(r"^(failed to solve with frontend dockerfile\.v0: |failed to solve: |failed to build LLB: "
                       r"|failed to create LLB definition: )+")


def enabled(client: docker.DockerClient) -> bool:
    """BuildKit unless DOCKER_BUILDKIT=0, on a Linux engine whose API takes it."""
    if os.environ.get("DOCKER_BUILDKIT", "").strip().lower() in ("0", "false"):
        return False
    version = client.version()
    api = tuple(int(part) for part in str(version.get("ApiVersion", "0.0")).split(".")[:2])
    return version.get("Os", "linux") == "linux" and api >= _MIN_API


def request(client: docker.DockerClient, context: bytes, params: dict[str, str]) -> Any:
    """POST /build with version=2; the decoded JSON messages of its answer, as the SDK streams them. (The SDK's
    build() sends no `version`, so the request is made with its own transport.)"""
    api = client.api
    response = api._post(api._url("/build"), params={**params, "version": "2"}, data=context,
                         headers={"Content-Type": "application/x-tar"}, stream=True, timeout=None)
    api._raise_for_status(response)
    return api._stream_helper(response, decode=True)


def params(tag: str, dockerfile: str, args: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    return {"t": tag, "dockerfile": dockerfile, "buildargs": json.dumps(args), "labels": json.dumps(labels)}


def reason(message: str) -> str:
    """BuildKit's error without the wrappers every one of them carries."""
    return _WRAPPERS.sub("", message.strip())


def step_name(vertex: str) -> str:
    """"[build 2/4] RUN make" → "Step 2/4 : RUN make (stage build)", as the classic builder names its steps."""
    found = _STEP.match(vertex)
    if found is None:
        return vertex
    stage = f" (stage {found['stage']})" if found["stage"] else ""
    return f"Step {found['n']}/{found['of']} : {found['what']}{stage}"


@dataclass
class _Vertex:
    number: int
    name: str
    started: bool = False
    done: bool = False
    partial: bytes = b""  # a log line not ended yet


@dataclass
class Progress:
    """The build's steps as they start and end, and their output, from the trace messages."""

    vertexes: dict[str, _Vertex] = field(default_factory=dict)
    current: str = ""  # the step that started last: the one a failure names
    failed: str = ""  # the step BuildKit said failed

    def feed(self, aux: object) -> list[str]:
        """The lines one trace message adds."""
        try:
            data = base64.b64decode(str(aux))
            return [line for number, value in protowire.fields(data) if isinstance(value, bytes)
                    for line in self._field(number, value)]
        except (ValueError, protowire.WireError):
            return []  # a message of another shape (a newer engine): the build itself goes on

    def _field(self, number: int, value: bytes) -> list[str]:
        if number == 1:
            return self._vertex(value)
        if number == 3:
            return self._log(value)
        return []

    def _vertex(self, data: bytes) -> list[str]:
        digest, name = protowire.text(data, 1), protowire.text(data, 3)
        vertex = self.vertexes.setdefault(digest, _Vertex(len(self.vertexes) + 1, name))
        lines = []
        if not vertex.started and (protowire.first(data, 5) is not None or protowire.first(data, 4)):
            vertex.started = True
            self.current = step_name(name)
            lines.append(f"#{vertex.number} {name}")
        error = protowire.text(data, 7)
        if error:
            self.failed = step_name(name)
            lines += [*self._flush(vertex), f"#{vertex.number} ERROR: {error}"]
        elif not vertex.done and protowire.first(data, 6) is not None:
            vertex.done = True
            lines += self._flush(vertex)
            lines.append(f"#{vertex.number} {'CACHED' if protowire.first(data, 4) else 'DONE'}")
        return lines

    def _log(self, data: bytes) -> list[str]:
        vertex = self.vertexes.get(protowire.text(data, 1))
        message = protowire.first(data, 4)
        if vertex is None or not isinstance(message, bytes):
            return []
        *complete, vertex.partial = (vertex.partial + message).split(b"\n")
        return [f"#{vertex.number} {line.decode('utf-8', 'replace').rstrip()}" for line in complete if line.strip()]

    def _flush(self, vertex: _Vertex) -> list[str]:
        rest, vertex.partial = vertex.partial.strip(), b""
        return [f"#{vertex.number} {rest.decode('utf-8', 'replace')}"] if rest else []
