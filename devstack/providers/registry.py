"""Provider name → implementation, and what a file change means for it. The one place that maps the provider
names of devstack.toml (config.model lists them, for validation) to their packages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devstack.config.model import KUBERNETES_PROVIDERS, SWARM, Config
from devstack.errors import UsageError
from devstack.providers.base import DeployInputs, Provider


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


def _swarm_inputs(config: Config) -> DeployInputs:
    from devstack.providers.swarm import inputs

    return inputs.deploy_inputs(config)


def _kubernetes_inputs(config: Config) -> DeployInputs:
    from devstack.providers.kubernetes import inputs

    return inputs.deploy_inputs(config)


@dataclass(frozen=True)
class _Family:
    create: Callable[[Config, Options], Provider]
    deploy_inputs: Callable[[Config], DeployInputs]  # what a file change means for it, without connecting


_FAMILIES: dict[str, _Family] = {
    SWARM: _Family(_swarm, _swarm_inputs),
    **{name: _Family(_kubernetes, _kubernetes_inputs) for name in KUBERNETES_PROVIDERS},
}


def create(config: Config, options: Options | None = None) -> Provider:
    return _family(config).create(config, options or Options())


def deploy_inputs(config: Config) -> DeployInputs:
    """The files the configured provider deploys from: an edit of one redeploys without a build."""
    return _family(config).deploy_inputs(config)


def _family(config: Config) -> _Family:
    family = _FAMILIES.get(config.provider)
    if family is None:
        raise UsageError(f"{config.file.name}: project.provider: {config.provider!r} is not available in this version")
    return family
