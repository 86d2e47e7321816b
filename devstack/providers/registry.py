"""Provider name → implementation. The one place that knows which providers exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devstack.config.model import Config
from devstack.errors import UsageError
from devstack.providers.base import Provider


@dataclass(frozen=True)
class Options:
    """What the command line adds for one run."""

    allow_context: str | None = None  # lift the Kubernetes context guard for this context


# Providers are imported when chosen: the kubernetes client alone takes a third of a second to import, which
# every command of a swarm project would pay.


def _swarm(config: Config, _options: Options) -> Provider:
    from devstack.providers.swarm.provider import SwarmProvider

    return SwarmProvider(config)


def _kubernetes(config: Config, options: Options) -> Provider:
    from devstack.providers.kubernetes.provider import KubernetesProvider

    return KubernetesProvider(config, allow_context=options.allow_context)


_FACTORIES: dict[str, Callable[[Config, Options], Provider]] = {
    "swarm": _swarm,
    "kind": _kubernetes,
    "k3d": _kubernetes,
    "minikube": _kubernetes,
    "context": _kubernetes,
}


def create(config: Config, options: Options | None = None) -> Provider:
    factory = _FACTORIES.get(config.provider)
    if factory is None:
        raise UsageError(f"{config.file.name}: project.provider: {config.provider!r} is not available in this version")
    return factory(config, options or Options())
