"""What every command shares: the config file option, the console, and lazy config/provider loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from devstack.config import kubernetes, loader
from devstack.config.model import Config
from devstack.observe.console import Console
from devstack.providers import registry
from devstack.providers.base import Provider


@dataclass
class Session:
    file: str | None = None  # -f/--file (devstack/cli/globals.py declares the global options)
    console: Console = field(default_factory=Console)
    _config: Config | None = None
    allow_context: str | None = None  # --allow-context: lift the Kubernetes context guard for this context
    kube_context: str | None = None  # --kube-context: deploy to this existing context instead

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = self.load()
        return self._config

    def load(self) -> Config:
        """The config as this run sees it: read afresh (the daemon reloads it on every edit), with the command
        line's overrides."""
        config = loader.load(loader.find(self.file, Path.cwd()))
        return kubernetes.on_context(config, self.kube_context) if self.kube_context else config

    @property
    def options(self) -> registry.Options:
        return registry.Options(allow_context=self.allow_context)

    def provider(self) -> Provider:
        return registry.create(self.config, self.options)

    def resource_names(self) -> set[str]:
        """Every resource the project can name: deployed ones, [[local]] ones, those with settings, disabled ones."""
        config, provider = self.config, self.provider()
        try:
            deployed = {status.name for status in provider.status()}
        finally:
            provider.close()
        return deployed | {local.name for local in config.local} | set(config.resources) | config.disabled

    def provider_for(self, config: Config) -> Provider:
        """A provider of another config of this run (one read afresh)."""
        return registry.create(config, self.options)


pass_session = click.make_pass_decorator(Session)
