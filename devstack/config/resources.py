"""[resources.NAME], [[local]] and [[commands]]: how the dev loop orders, triggers and extends the resources.

    [resources.kumod]
    depends_on = ["dragonfly"]        # deployed and rolled once dragonfly is ready
    trigger = "manual"                # saves become pending until `devstack trigger kumod`
    links = [{ name = "inject API", url = "http://127.0.0.1:8000/api/inject/v1" }]

    [[local]]                         # a command on this machine, re-run when a file of `deps` changes
    name = "policy-check"
    command = "luac5.4 -p policy/*.lua"   # a string runs through `sh -c`; a list runs as it is
    deps = ["policy/**/*.lua"]
    # serve = "python3 -m http.server 9000"   # kept running, restarted when the deps change
    # readiness = { http = "http://127.0.0.1:9000/" }   # or { tcp = 9000 }: ready once it answers

    [[commands]]                      # `devstack run queues`: output goes to kumod's log
    name = "queues"
    resource = "kumod"
    exec = ["kcli", "queue-summary"]  # in the resource's container; `run = ...` runs on this machine

The graph is checked here for what the file alone tells (a resource that depends on itself, a cycle); names the
file does not define (services, workloads) are checked against the deploy by `check_names`.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from devstack.config.model import (
    TRIGGERS,
    CommandSpec,
    Config,
    Link,
    LocalResource,
    Readiness,
    ResourceSpec,
    ShellCommand,
)
from devstack.config.reader import Table
from devstack.errors import ConfigError

# Service names (swarm) and workload names (Kubernetes, DNS-1123) both fit this.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?")
_SETTINGS = ("depends_on", "trigger", "links")


def read(top: Table) -> tuple[dict[str, ResourceSpec], tuple[LocalResource, ...], tuple[CommandSpec, ...]]:
    """The three sections, with the settings of each [[local]] folded into `resources` under its name."""
    resources = {name: _settings(table, name) for name, table in top.tables("resources")}
    local: list[LocalResource] = []
    for i, table in enumerate(top.array_of_tables("local")):
        spec, settings = _local(table)
        if spec.name in {other.name for other in local}:
            raise table.error("name", f"duplicate name {spec.name!r}")
        resources[spec.name] = _merge(top.file, i, resources.get(spec.name), settings)
        local.append(spec)
    commands = tuple(top.map("commands", _command))
    _unique(top.file, "commands", [c.name for c in commands])
    check_graph(top.file, resources)
    return resources, tuple(local), commands


def _settings(table: Table, name: str, *, local: bool = False) -> ResourceSpec:
    if not _NAME.fullmatch(name):
        raise ConfigError(table.file, table.path if not local else table.key("name"),
                          f"expected a resource name: lower-case letters, digits, '-', '_' or '.' (at most 63), "
                          f"got {name!r}")
    depends_on = tuple(table.str_list("depends_on", []))
    trigger = table.string("trigger", "auto", choices=TRIGGERS)
    links = tuple(_link(link) for link in table.array_of_tables("links"))
    if not local:
        table.done()
    return ResourceSpec(name=name, depends_on=depends_on, trigger=trigger, links=links, key=table.path)


def _link(table: Table) -> Link:
    link = Link(name=table.string("name"), url=table.string("url"))
    if not re.match(r"[a-z][a-z0-9+.-]*://", link.url):
        raise table.error("url", f"expected an absolute URL such as 'http://127.0.0.1:8480/', got {link.url!r}")
    table.done()
    return link


def _local(table: Table) -> tuple[LocalResource, ResourceSpec]:
    name = table.string("name")
    settings = _settings(table, name, local=True)
    command, serve = shell(table, "command"), shell(table, "serve")
    if command is None and serve is None:
        raise table.error("command", "is required: the command to run (or `serve`, a command kept running)")
    workdir = _workdir(table)
    deps = tuple(str(Path(table.root, pattern)) for pattern in table.str_list("deps", []))
    readiness = _readiness(table.table("readiness")) if table.has("readiness") else None
    if readiness is not None and serve is None:
        raise table.error("readiness", "checks a `serve` command, and this local resource has none")
    spec = LocalResource(name=name, command=command, serve=serve, deps=deps, workdir=workdir,
                         env=table.str_map("env"), readiness=readiness)
    table.done()
    return spec, settings


def _readiness(table: Table) -> Readiness:
    """{ http = "http://127.0.0.1:9000/" } or { tcp = 9000 }, and a `timeout` in seconds (30)."""
    if table.has("http") == table.has("tcp"):
        raise table.error("http", "expected exactly one of `http` (a URL on this machine that answers below 400) "
                                  "and `tcp` (a port of 127.0.0.1 that accepts a connection)")
    timeout = table.number("timeout", 30.0, positive=True)
    if table.has("tcp"):
        probe = Readiness(tcp=table.integer("tcp", low=1, high=65535), timeout_s=timeout)
    else:
        probe = Readiness(http=_local_url(table, table.string("http")), timeout_s=timeout)
    table.done()
    return probe


def _local_url(table: Table, url: str) -> str:
    """A URL on this machine: a local resource serves here, and devstack checks nothing elsewhere."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise table.error("http", f"expected an http:// URL on this machine (127.0.0.1, localhost or [::1]), "
                                  f"got {url!r}")
    return url


def _command(table: Table) -> CommandSpec:
    name = table.string("name")
    if not _NAME.fullmatch(name):
        raise table.error("name", f"expected lower-case letters, digits, '-', '_' or '.', got {name!r}")
    resource = table.string("resource")
    run, exec_ = shell(table, "run"), shell(table, "exec")
    if (run is None) == (exec_ is None):
        raise table.error("run", "expected exactly one of `run` (a command on this machine) and `exec` (a command "
                                 "in the resource's container)")
    workdir = _workdir(table) if run is not None else None
    spec = CommandSpec(name=name, resource=resource, run=run, exec=exec_, workdir=workdir,
                       description=table.string("description", ""))
    table.done()
    return spec


def shell(table: Table, key: str) -> ShellCommand | None:
    """A command key: a string (run through `sh -c`) or a non-empty list of strings (run as it is)."""
    if not table.has(key):
        return None
    value = table.take(key, object, None)
    if isinstance(value, str) and value.strip():
        return ShellCommand(argv=("sh", "-c", value), text=value)
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return ShellCommand(argv=tuple(value), text=" ".join(value))
    raise table.error(key, f"expected a command: a string (run by sh -c) or a list of strings, got {value!r}")


def _workdir(table: Table) -> Path:
    folder: Path = (table.root / table.string("workdir", ".")).resolve()
    if not folder.is_dir():
        raise table.error("workdir", f"directory '{folder}' does not exist")
    return folder


def _merge(file: str, index: int, declared: ResourceSpec | None, local: ResourceSpec) -> ResourceSpec:
    """A local resource's own settings, unless [resources.NAME] sets them too: then the file says one thing twice."""
    if declared is None:
        return local
    default = ResourceSpec(local.name)
    chosen: dict[str, object] = {}
    for key in _SETTINGS:
        mine, theirs = getattr(local, key) != getattr(default, key), getattr(declared, key) != getattr(default, key)
        if mine and theirs:
            raise ConfigError(file, f"local[{index}].{key}", f"set here and in [resources.{local.name}]: keep one")
        chosen[key] = getattr(local if mine else declared, key)
    # Messages about its dependencies point where they are written.
    where = declared.key if declared.depends_on else local.key
    return ResourceSpec(name=local.name, key=where, **chosen)  # type: ignore[arg-type]


def check_graph(file: str, resources: Mapping[str, ResourceSpec]) -> None:
    """No resource depends on itself, and the dependencies end (no cycle)."""
    for spec in resources.values():
        for i, other in enumerate(spec.depends_on):
            if other == spec.name:
                raise ConfigError(file, f"{spec.key}.depends_on[{i}]", f"{spec.name!r} cannot depend on itself")
    for start in resources:
        cycle = _cycle_from(start, resources)
        if cycle:
            raise ConfigError(file, f"{resources[start].key}.depends_on",
                              f"dependencies in a cycle: {' → '.join(cycle)}")


def _cycle_from(start: str, resources: Mapping[str, ResourceSpec]) -> list[str]:
    """A path start → … → start through depends_on, or [] when there is none."""
    stack: list[tuple[str, Iterator[str]]] = [(start, iter(resources[start].depends_on))]
    seen = {start}
    while stack:
        children = stack[-1][1]
        child = next(children, None)
        if child is None:
            stack.pop()
        elif child == start:
            return [name for name, _ in stack] + [start]
        elif child not in seen and child in resources:
            seen.add(child)
            stack.append((child, iter(resources[child].depends_on)))
    return []


def check_names(config: Config, deployed: Collection[str]) -> None:
    """Every name the sections use is a resource of the deploy or a [[local]] one: a typo is a config error (exit
    2) that names the key, found when the deploy is planned, before anything is applied."""
    known = set(deployed) | {spec.name for spec in config.local} | config.disabled
    choices = ", ".join(sorted(known)) or "none"
    file = config.file.name
    for spec in config.resources.values():
        if spec.name not in known:
            raise ConfigError(file, spec.key, f"no resource of that name (the resources: {choices})")
        for i, other in enumerate(spec.depends_on):
            if other not in known:
                raise ConfigError(file, f"{spec.key}.depends_on[{i}]",
                                  f"no resource named {other!r} (the resources: {choices})")
    for i, local in enumerate(config.local):
        if local.name in deployed:
            raise ConfigError(file, f"local[{i}].name", f"{local.name!r} is a resource of the deploy already: "
                                                        "give the local resource another name")
    for i, command in enumerate(config.commands):
        if command.resource not in known:
            raise ConfigError(file, f"commands[{i}].resource",
                              f"no resource named {command.resource!r} (the resources: {choices})")


def _unique(file: str, key: str, names: list[str]) -> None:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(file, f"{key}[{i}].name", f"duplicate name {name!r}")
