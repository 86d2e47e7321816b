"""The typed, frozen form of devstack.toml. Everything downstream reads these objects, never raw TOML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SWARM = "swarm"
KUBERNETES_PROVIDERS = ("kind", "k3d", "minikube", "context")
PROVIDERS = (SWARM, *KUBERNETES_PROVIDERS)


@dataclass(frozen=True)
class SyncRule:
    """Live update: files under `local` are copied to `remote` in the running containers."""

    local: Path
    remote: str


@dataclass(frozen=True)
class LiveUpdate:
    sync: tuple[SyncRule, ...]
    restart: tuple[str, ...]  # a command run in the container after a sync; empty: nothing to run


@dataclass(frozen=True)
class ImageSpec:
    name: str  # the key in [images.NAME]
    ref: str  # the repository that stack files and manifests use; devstack rewrites it to the built tag
    context: Path
    dockerfile: Path
    args: Mapping[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()  # extra .dockerignore-style patterns
    live_update: LiveUpdate | None = None


@dataclass(frozen=True)
class SwarmSpec:
    stack_file: Path


@dataclass(frozen=True)
class Forward:
    """Traffic to 127.0.0.1:`local` reaches port `remote` of `resource` (a service)."""

    resource: str
    local: int
    remote: int


@dataclass(frozen=True)
class SmokeSpec:
    """One smoke test. `options` holds the type-specific, already validated settings."""

    name: str
    type: str
    resource: str | None  # the service whose logs are shown when the test fails
    timeout_s: float
    options: Mapping[str, object]


@dataclass(frozen=True)
class Config:
    file: Path
    project: str
    provider: str
    variables: Mapping[str, str]
    images: Mapping[str, ImageSpec]
    swarm: SwarmSpec | None
    forwards: tuple[Forward, ...] = ()
    smoke: tuple[SmokeSpec, ...] = ()

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def state_dir(self) -> Path:
        """Per-project working files (rendered stack files, daemon socket); gitignored."""
        return self.root / ".devstack"

    def display(self, path: Path) -> str:
        """A path as the user would write it: relative to the project root when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
