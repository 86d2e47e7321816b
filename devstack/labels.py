"""The labels devstack puts on every object it creates. The engine's labels are the state store, so `down`
finds everything by label, even after a crashed or killed `up`."""

from __future__ import annotations

PROJECT = "dev.devstack.project"
DIGEST = "dev.devstack.digest"  # what was deployed, to skip an unchanged redeploy
SWARM_CREATED = "dev.devstack.swarm-created"  # on the node: devstack initialised this swarm


def selector(project: str) -> str:
    return f"{PROJECT}={project}"
