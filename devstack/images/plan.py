"""The image half of a plan: which images the config defines, their content tags, and which must be built."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import docker

from devstack.config.model import BASE_ARG, Config, ImageSpec
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
    """Each image's content tag. An image built on another (`base`) is scanned after it, with the build arg BASE
    set to that image's tag: a new base gives it a new tag too, so it is rebuilt whenever its base is."""
    by_name = {spec.name: spec for spec in specs}
    scanned: dict[int, build.Target] = {}  # by the spec's identity: a base is scanned once, as itself

    def target(spec: ImageSpec) -> build.Target:
        if id(spec) not in scanned:
            built = spec
            if spec.base in by_name:
                built = dataclasses.replace(spec, args={**spec.args, BASE_ARG: target(by_name[spec.base]).tag})
            scanned[id(spec)] = build.Target(built, context.scan(built.context, built.dockerfile, built.args,
                                                                 built.ignore))
        return scanned[id(spec)]

    return tuple(target(spec) for spec in specs)


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
                      and not build.exists(client, t.spec.args[BASE_ARG]))
    return ImagePlan(targets=targets, missing=missing, bases=bases)
