"""What every command shares: the config file option, the console, and lazy config/provider loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from devstack.config import loader
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

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = loader.load(loader.find(self.file, Path.cwd()))
        return self._config

    def provider(self) -> Provider:
        return registry.create(self.config, registry.Options(allow_context=self.allow_context))


pass_session = click.make_pass_decorator(Session)
