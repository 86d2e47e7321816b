"""Build images through the Docker SDK, skipping any whose content tag already exists.

Build output is streamed line by line to a callback (the console decides how to show it). A failure names the
image, the step that failed and the last lines of output.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import docker
import docker.errors

from devstack import blocking
from devstack.config.model import ImageSpec
from devstack.errors import BuildError
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
    """Build `target` and tag it; raise BuildError with the failing step and output tail."""
    name = target.spec.name
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    step = ""
    labels = {LABEL_PROJECT: project, LABEL_IMAGE: name, LABEL_DIGEST: target.context.digest}
    try:
        stream = client.api.build(
            fileobj=target.context.tar(), custom_context=True, dockerfile=target.context.dockerfile_in_tar,
            tag=target.tag, buildargs=dict(target.spec.args), labels=labels, rm=True, forcerm=True, decode=True)
        for chunk in stream:
            blocking.check()  # Ctrl-C stops a build between two lines of its output
            if "error" in chunk or "errorDetail" in chunk:
                reason = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "build failed")
                raise BuildError(name, step, list(tail), _explain(reason.strip(), step))
            for line in _lines(chunk):
                if _STEP.match(line):
                    step = line
                tail.append(line)
                on_line(name, line)
    except docker.errors.APIError as err:
        raise BuildError(name, step, list(tail), _explain(str(err.explanation or err), step)) from None


def _lines(chunk: dict[str, object]) -> list[str]:
    text = chunk.get("stream") or chunk.get("status")
    if not isinstance(text, str):
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _explain(reason: str, step: str) -> str:
    if "FROM" in step and any(hint in reason for hint in _OFFLINE_HINTS):
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
