"""Dev secrets as swarm secrets: created once per value, labelled, removed by `down` with everything else."""

from __future__ import annotations

import hashlib

import docker

from devstack import labels


def swarm_name(project: str, name: str, value: str) -> str:
    # A digest of the value, never the value: names show in `docker secret ls`.
    return f"{project}_{name}_{hashlib.sha256(value.encode()).hexdigest()[:10]}"


def ensure(client: docker.DockerClient, project: str, swarm_secret: str, value: str) -> None:
    if any(s.name == swarm_secret for s in client.secrets.list(filters={"name": swarm_secret})):
        return
    client.secrets.create(name=swarm_secret, data=value.encode(), labels={labels.PROJECT: project})
