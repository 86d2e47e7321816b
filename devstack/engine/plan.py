"""The image half of a plan: which images the config defines, their content tags, and which must be built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import docker

from devstack.config.model import Config
from devstack.images import build, context, engine


@dataclass(frozen=True)
class ImagePlan:
    targets: tuple[build.Target, ...]
    missing: tuple[build.Target, ...]  # not in the engine yet: these get built

    @property
    def tags(self) -> Mapping[str, str]:
        """Repository as written in stack files → the content tag to deploy."""
        return {t.spec.ref: t.tag for t in self.targets}


def scan(config: Config) -> tuple[build.Target, ...]:
    return tuple(
        build.Target(spec, context.scan(spec.context, spec.dockerfile, spec.args, spec.ignore))
        for spec in config.images.values())


def images(config: Config, client: docker.DockerClient) -> ImagePlan:
    targets = scan(config)
    with engine.translated("list images"):
        missing = tuple(t for t in targets if not build.exists(client, t.tag))
    return ImagePlan(targets=targets, missing=missing)
