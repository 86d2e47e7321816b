"""The typed, frozen form of devstack.toml. Everything downstream reads these objects, never raw TOML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.config.reader import relative

SWARM = "swarm"
KUBERNETES_PROVIDERS = ("kind", "k3d", "minikube", "context")
PROVIDERS = (SWARM, *KUBERNETES_PROVIDERS)
# The build arg a Dockerfile takes its FROM from (`ARG BASE` / `FROM ${BASE}`): devstack sets it for an image
# built from a package list, and for one built on another image of the project (`base`).
BASE_ARG = "BASE"


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
class PackageList:
    """[images.NAME] packages: the Debian packages the image is built from, as one normalised list."""

    file: Path  # the list as written, inside the image's context
    names: tuple[str, ...]  # sorted, without duplicates: the order and comments of the file do not matter
    digest: str  # sha256 hex of the names, one per line: names the offline base that holds them


@dataclass(frozen=True)
class ImageSpec:
    name: str  # the key in [images.NAME]
    ref: str  # the repository that stack files and manifests use; devstack rewrites it to the built tag
    context: Path
    dockerfile: Path
    args: Mapping[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()  # extra .dockerignore-style patterns
    live_update: LiveUpdate | None = None
    packages: PackageList | None = None
    # Another image of the project this one is built FROM: built first, its tag passed as the build arg BASE.
    base: str | None = None


@dataclass(frozen=True)
class SwarmSpec:
    stack_file: Path


@dataclass(frozen=True)
class HelmChart:
    """A chart rendered with `helm template RELEASE CHART`, its values files and `--set` pairs."""

    chart: Path
    release: str
    values: tuple[Path, ...] = ()
    set: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KubernetesSpec:
    """[kubernetes]: where the manifests come from and which cluster (kubeconfig context) receives them."""

    context: str  # the only kubeconfig context devstack acts on (derived from `cluster` for kind, k3d, minikube)
    cluster: str  # kind/k3d cluster or minikube profile devstack may create and delete; "" for provider 'context'
    namespace: str
    manifests: tuple[str, ...] = ()  # absolute glob patterns of plain YAML files
    kustomize: tuple[Path, ...] = ()
    helm: tuple[HelmChart, ...] = ()
    kubeconfig: Path | None = None  # None: $KUBECONFIG, else ~/.kube/config
    allowed_contexts: tuple[str, ...] = ()  # added to the built-in allow-list (fnmatch patterns)
    registry: str | None = None  # a local registry as this machine pushes to it ("localhost:5001")
    registry_from_cluster: str | None = None  # the same registry as the nodes pull from; None: same as `registry`
    node_image: str | None = None  # kind/k3d: the node image of a cluster devstack creates; None: the CLI's default


@dataclass(frozen=True)
class SecretSpec:
    """[secrets.NAME]: a random value generated once per machine and project, never printed."""

    name: str
    length: int
    alphabet: str
    key: str  # the key inside the Kubernetes Secret
    # A value composed of other secrets (`${secret:NAME}`): not generated, not stored; it holds their values.
    template: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Secret:
    """A dev secret's value, loaded once with the config (devstack.config.secret_store). Its repr and str never
    show the value."""

    name: str
    key: str  # the key inside a Kubernetes Secret
    value: str = field(repr=False)

    def __str__(self) -> str:
        return f"secret {self.name}"


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
    options: object  # HttpInject, Smtp, Imap or Http from devstack.config.smoke (a dataclass, not a mapping)


TRIGGERS = ("auto", "manual")


@dataclass(frozen=True)
class Link:
    """An endpoint shown beside the forwards: a web UI, an API root."""

    name: str
    url: str


@dataclass(frozen=True)
class ResourceSpec:
    """[resources.NAME]: how the dev loop treats one resource (a service, a workload or a [[local]] one)."""

    name: str
    depends_on: tuple[str, ...] = ()  # deployed and rolled only once each of these is ready
    trigger: str = "auto"  # auto | manual: manual records saves as pending until `devstack trigger NAME`
    links: tuple[Link, ...] = ()
    key: str = ""  # where the file sets them, for messages: "resources.kumod", "local[0]"


@dataclass(frozen=True)
class ShellCommand:
    """A command as written: a string runs through `sh -c`, a list runs as it is (no shell)."""

    argv: tuple[str, ...]
    text: str  # as the user wrote it, for messages

    @property
    def shell(self) -> bool:
        return self.argv[:2] == ("sh", "-c") and len(self.argv) == 3 and self.argv[2] == self.text


@dataclass(frozen=True)
class Readiness:
    """When a [[local]] resource's `serve` is ready: an HTTP URL on this machine answers below 400, or a port of
    127.0.0.1 accepts a connection; checked until `timeout_s` has passed."""

    http: str | None = None  # http://127.0.0.1:9000/healthz
    tcp: int | None = None  # a port of 127.0.0.1
    timeout_s: float = 30.0

    @property
    def target(self) -> str:
        return self.http or f"127.0.0.1:{self.tcp}"


@dataclass(frozen=True)
class LocalResource:
    """[[local]]: a command on this machine, re-run when its `deps` change; `serve` is kept running."""

    name: str
    command: ShellCommand | None  # run to completion; fails its cycle when it exits non-zero
    serve: ShellCommand | None  # started after `command` succeeded, restarted when the deps change
    deps: tuple[str, ...]  # absolute glob patterns (`**` spans folders)
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    readiness: Readiness | None = None  # the serve is ready once it passes (else: once it started)


@dataclass(frozen=True)
class CommandSpec:
    """[[commands]]: a named one-off command of a resource (`devstack run NAME`); its output goes to that
    resource's log. Either `run` on this machine or `exec` in the resource's container."""

    name: str
    resource: str
    run: ShellCommand | None
    exec: ShellCommand | None
    description: str = ""
    workdir: Path | None = None  # for `run`


DASHBOARD_PORT = 10360  # devstack's own: near Tilt's 10350, which a Tilt user may still have running


@dataclass(frozen=True)
class DashboardSpec:
    """[dashboard]: the web dashboard `devstack up` serves on 127.0.0.1."""

    port: int = DASHBOARD_PORT
    enabled: bool = True
    sink: str | None = None  # the sink's HTTP API root, for the mail view (default: what the smoke tests name)


@dataclass(frozen=True)
class Config:
    file: Path
    project: str
    provider: str
    variables: Mapping[str, str] = field(repr=False)  # holds `secret:NAME` → the value, for ${secret:NAME}
    images: Mapping[str, ImageSpec]
    swarm: SwarmSpec | None
    forwards: tuple[Forward, ...] = ()
    smoke: tuple[SmokeSpec, ...] = ()
    kubernetes: KubernetesSpec | None = None
    secrets: tuple[SecretSpec, ...] = ()
    resources: Mapping[str, ResourceSpec] = field(default_factory=dict)  # only those with settings
    local: tuple[LocalResource, ...] = ()
    commands: tuple[CommandSpec, ...] = ()
    disabled: frozenset[str] = frozenset()  # `devstack disable`: left out of the deploy, its forwards and tests
    # The dev secrets' values by name, loaded (or generated) once when the config is read: providers and
    # ${secret:NAME} take them from here, and the output boundary scrubs them from everything printed.
    dev_secrets: Mapping[str, Secret] = field(default_factory=dict, repr=False)
    dashboard: DashboardSpec = field(default_factory=DashboardSpec)

    def resource(self, name: str) -> ResourceSpec:
        """The settings of a resource; the defaults for one with no [resources.NAME] table."""
        return self.resources.get(name) or ResourceSpec(name)

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def state_dir(self) -> Path:
        """Per-project working files (rendered stack files, daemon socket); gitignored."""
        return self.root / ".devstack"

    def display(self, path: Path) -> str:
        """A path as the user would write it: relative to the project root when inside it."""
        return relative(path, self.root)
