"""Build images through the Docker SDK (BuildKit where the engine has it, else the classic builder), skipping any
whose content tag already exists.

Build output is streamed line by line to a callback (the console decides how to show it). A failure names the
image, the step that failed and the last lines of output.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from devstack import blocking
from devstack.config.model import ImageSpec
from devstack.errors import BuildError
from devstack.images import buildkit
from devstack.images.context import Context

LABEL_PROJECT = "dev.devstack.project"
LABEL_IMAGE = "dev.devstack.image"
LABEL_DIGEST = "dev.devstack.context-digest"
_STEP = re.compile(r"^Step \d+/\d+ : ")
_TAIL_LINES = 12
_OFFLINE_HINTS = ("no such host", "pull access denied", "dial tcp", "TLS handshake", "i/o timeout")

OnLine = Callable[[str, str], None]  # (image name, output line)


@dataclass(frozen=True)
class Target:
    """One image to have: its spec, its scanned context and the tag derived from the content."""

    spec: ImageSpec
    context: Context

    @property
    def tag(self) -> str:
        return f"{self.spec.ref}:{self.context.digest[:16]}"


def exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build(client: docker.DockerClient, target: Target, project: str, on_line: OnLine) -> None:
    """Build `target` and tag it (through BuildKit where the engine has it: images/buildkit.py); raise BuildError
    with the failing step and output tail."""
    labels = {LABEL_PROJECT: project, LABEL_IMAGE: target.spec.name, LABEL_DIGEST: target.context.digest}
    output = _Output(target.spec.name, on_line)
    try:
        if buildkit.enabled(client):
            _buildkit(client, target, labels, output)
        else:
            _classic(client, target, labels, output)
    except docker.errors.APIError as err:
        raise output.failure(str(err.explanation or err)) from None


class _Output:
    """A build's lines, shown as they come; the step running and the last lines, for a failure's message."""

    def __init__(self, name: str, on_line: OnLine) -> None:
        self.name, self._on_line = name, on_line
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self.step = ""

    def line(self, line: str) -> None:
        blocking.check()  # Ctrl-C stops a build between two lines of its output
        self.tail.append(line)
        self._on_line(self.name, line)

    def failure(self, reason: str) -> BuildError:
        return BuildError(self.name, self.step, list(self.tail), _explain(reason.strip(), self.step))


def _classic(client: docker.DockerClient, target: Target, labels: dict[str, str], output: _Output) -> None:
    stream = client.api.build(
        fileobj=target.context.tar(), custom_context=True, dockerfile=target.context.dockerfile_in_tar,
        tag=target.tag, buildargs=dict(target.spec.args), labels=labels, rm=True, forcerm=True, decode=True)
    for chunk in stream:
        _check(chunk, output)
        for line in _lines(chunk):
            if _STEP.match(line):
                output.step = line
            output.line(line)


def _buildkit(client: docker.DockerClient, target: Target, labels: dict[str, str], output: _Output) -> None:
    progress = buildkit.Progress()
    params = buildkit.params(target.tag, target.context.dockerfile_in_tar, dict(target.spec.args), labels)
    for chunk in buildkit.request(client, target.context.tar().getvalue(), params):
        if chunk.get("id") == buildkit.TRACE:
            lines = progress.feed(chunk.get("aux"))
            output.step = progress.failed or progress.current
            for line in lines:
                output.line(line)
            continue
        if "error" in chunk or "errorDetail" in chunk:
            chunk = {**chunk, "error": buildkit.reason(_error(chunk))}
        _check(chunk, output)
        for line in _lines(chunk):
            output.line(line)


def _check(chunk: dict[str, object], output: _Output) -> None:
    if "error" in chunk or "errorDetail" in chunk:
        raise output.failure(_error(chunk))


def _error(chunk: dict[str, Any]) -> str:
    return str(chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "build failed"))


def _lines(chunk: dict[str, object]) -> list[str]:
    text = chunk.get("stream") or chunk.get("status")
    if not isinstance(text, str):
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _explain(reason: str, step: str) -> str:
    pulling = "FROM" in step or "load metadata for" in step or "load metadata for" in reason
    if pulling and any(hint in reason for hint in _OFFLINE_HINTS):
        return (f"{reason}\n  the base image could not be pulled: with no registry reachable, build the offline "
                "base with `devstack base-image` and set DEVSTACK_BASE_IMAGE=devstack/base:bookworm")
    return reason


def remove_project_images(client: docker.DockerClient, project: str) -> tuple[int, list[str]]:
    """`down --images`: the images built for the project; how many went, and the ones kept and why. Tags are
    content hashes, so another project built from the same files runs the very same image: that one stays."""
    removed, pending = 0, client.images.list(filters={"label": f"{LABEL_PROJECT}={project}"})
    while pending:
        refused = []
        for image in pending:
            try:
                client.images.remove(image.id, force=True)
                removed += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:
                if err.status_code != 409:
                    raise
                refused.append(image)
        # The engine refuses to remove an image while one built on it (`base`) exists: once that one is gone,
        # another round removes it. A round that removes nothing leaves what is in use.
        if len(refused) == len(pending):
            break
        pending = refused
    return removed, [f"kept image {next(iter(image.tags), image.short_id)}: a container of another project still "
                     "uses it" for image in pending]
