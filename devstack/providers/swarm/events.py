"""The engine's events about one project: what lets the daemon notice a task that died, a service removed by
hand, or an engine that went away, without polling every service."""

from __future__ import annotations

import time

import docker

from devstack import blocking, labels


def changed(client: docker.DockerClient, project: str, timeout_s: float) -> bool:
    """Whether a service or container of `project` had an event in the next `timeout_s` seconds. The engine
    closes the stream at `until`, so this returns on time; a lost engine raises from the SDK."""
    client.ping()  # a stream to a dead engine can hang in connect; a ping fails at once
    now = time.time()
    stream = client.api.events(since=now, until=now + timeout_s, decode=True,
                               filters={"type": ["service", "container"]})
    seen = False
    for event in stream:
        blocking.check()
        seen = seen or _ours(event, project)
    return seen


def _ours(event: dict[str, object], project: str) -> bool:
    actor = event.get("Actor")
    attributes = actor.get("Attributes", {}) if isinstance(actor, dict) else {}
    return bool(attributes.get(labels.PROJECT) == project or
                str(attributes.get("name", "")).startswith(f"{project}_"))
