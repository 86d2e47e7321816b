"""The image half of a pass behind one small interface: plan (which images exist, which must be built), build
an offline base, build an image. The Docker engine does it all here; the reconciler's tests use an in-memory
builder instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import docker

from devstack.config.model import Config, ImageSpec
from devstack.images import build, docker_engine, package_base, plan

OnLine = Callable[[str, str], None]  # (image name, output line)
Log = Callable[[str], None]


class Builder(Protocol):
    def plan(self, config: Config) -> plan.ImagePlan:
        """The images of `config`, their content tags, and which are missing (to be built)."""
        ...

    def build_base(self, spec: ImageSpec, log: Log) -> None:
        """Build the offline base `spec`'s package list needs."""
        ...

    def build(self, target: build.Target, project: str, on_line: OnLine) -> None: ...


class DockerBuilder:
    """Builds on the local Docker engine, connected afresh by each plan: it may have restarted since."""

    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_engine.connect()
        return self._client

    def plan(self, config: Config) -> plan.ImagePlan:
        self._client = docker_engine.connect()
        return plan.images(config, self._client)

    def build_base(self, spec: ImageSpec, log: Log) -> None:
        package_base.ensure(self.client, spec, log)

    def build(self, target: build.Target, project: str, on_line: OnLine) -> None:
        build.build(self.client, target, project, on_line)
