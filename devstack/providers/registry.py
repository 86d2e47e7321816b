"""Provider name → implementation. The one place that knows which providers exist."""

from __future__ import annotations

from collections.abc import Callable

from devstack.config.model import Config
from devstack.errors import UsageError
from devstack.providers.base import Provider
from devstack.providers.swarm.provider import SwarmProvider

_FACTORIES: dict[str, Callable[[Config], Provider]] = {
    "swarm": SwarmProvider,
}


def create(config: Config) -> Provider:
    factory = _FACTORIES.get(config.provider)
    if factory is None:
        raise UsageError(f"{config.file.name}: project.provider: {config.provider!r} is not available in this version")
    return factory(config)
