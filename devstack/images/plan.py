"""The image half of a plan: which images the config defines, their content tags, and which must be built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import docker

from devstack.config.model import Config, ImageSpec
from devstack.images import build, context, docker_engine, package_base


@dataclass(frozen=True)
class ImagePlan:
    targets: tuple[build.Target, ...]
    missing: tuple[build.Target, ...]  # not in the engine yet: these get built
    bases: tuple[ImageSpec, ...] = ()  # missing images whose offline base is missing too: built first

    @property
    def tags(self) -> Mapping[str, str]:
        """Repository as written in stack files → the content tag to deploy."""
        return {t.spec.ref: t.tag for t in self.targets}


def scan(specs: list[ImageSpec]) -> tuple[build.Target, ...]:
    return tuple(build.Target(spec, context.scan(spec.context, spec.dockerfile, spec.args, spec.ignore))
                 for spec in specs)


def with_bases(config: Config, client: docker.DockerClient) -> list[ImageSpec]:
    """The images, each built from a Debian package list given its BASE: the build arg enters the content tag,
    so an image built online and one built offline never share a tag."""
    specs = list(config.images.values())
    if not any(spec.packages for spec in specs):
        return specs
    public = package_base.PUBLIC if package_base.public_wanted() and package_base.public_usable(client) else None
    return [package_base.with_base(spec, public) for spec in specs]


def images(config: Config, client: docker.DockerClient) -> ImagePlan:
    with docker_engine.translated("list images"):
        targets = scan(with_bases(config, client))
        missing = tuple(t for t in targets if not build.exists(client, t.tag))
        bases = tuple(t.spec for t in missing if package_base.needs_offline(t.spec)
                      and not build.exists(client, t.spec.args[package_base.ARG]))
    return ImagePlan(targets=targets, missing=missing, bases=bases)
