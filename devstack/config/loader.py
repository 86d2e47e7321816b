"""Find devstack.toml, interpolate it, validate every key and build the frozen Config.

Nothing runs before loading succeeds, so a bad file never leaves a half-deployed stack.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.config import smoke
from devstack.config.model import PROVIDERS, SWARM, Config, Forward, ImageSpec, LiveUpdate, SwarmSpec, SyncRule
from devstack.config.reader import Table, relative
from devstack.config.variables import InterpolationError, interpolate, read_env_file
from devstack.errors import ConfigError, UsageError

FILENAME = "devstack.toml"
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,40}")
# A Docker repository name, optionally behind a registry host[:port].
_IMAGE_REF = re.compile(r"(?:[a-zA-Z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")


def find(explicit: str | None, cwd: Path) -> Path:
    """The -f/--file argument, or devstack.toml in `cwd` or the nearest parent."""
    if explicit is not None:
        path = (cwd / explicit).resolve()
        if not path.is_file():
            raise UsageError(f"-f/--file: {explicit}: no such file")
        return path
    for folder in (cwd, *cwd.parents):
        if (folder / FILENAME).is_file():
            return (folder / FILENAME).resolve()
    raise UsageError(f"no {FILENAME} in {cwd} or its parents (use -f/--file to name one)")


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    name = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(name, "", f"invalid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(name, "", f"cannot read: {err.strerror}") from None
    declared = Table(raw, name, root=path.parent).str_map("variables")
    values = _variable_values(path.parent, declared, os.environ if environ is None else environ)
    # [variables] is taken literally; every other string may use ${VAR}.
    rest = {key: value for key, value in raw.items() if key != "variables"}
    top = Table({**_interpolate_tree(rest, values, name, ""), "variables": raw.get("variables", {})}, name,
                root=path.parent)
    top.table("variables", {})
    return _build(top, path, values)


def _variable_values(root: Path, declared: dict[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    try:
        dotenv = read_env_file(root / ".env")
    except InterpolationError as err:
        raise ConfigError(".env", "", str(err).split(": ", 1)[-1]) from None
    return {**declared, **dotenv, **environ}


def _interpolate_tree(node: Any, values: Mapping[str, str], file: str, key: str) -> Any:
    if isinstance(node, str):
        try:
            return interpolate(node, values)
        except InterpolationError as err:
            raise ConfigError(file, key, str(err)) from None
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, values, file, f"{key}.{k}" if key else k) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(v, values, file, f"{key}[{i}]") for i, v in enumerate(node)]
    return node


def _build(top: Table, path: Path, values: dict[str, str]) -> Config:
    root = path.parent
    project = top.table("project")
    name = project.string("name")
    if not _PROJECT_NAME.fullmatch(name):
        raise project.error("name", f"expected lower-case letters, digits, '-' or '_' (at most 41), got {name!r}")
    provider = project.string("provider", SWARM, choices=PROVIDERS)
    project.done()
    images = {key: _image(table, key, root) for key, table in top.tables("images")}
    swarm = _swarm(top, root) if top.has("swarm") or provider == SWARM else None
    if provider != SWARM:
        raise ConfigError(path.name, "project.provider", f"provider {provider!r} is not supported by this version")
    forwards = tuple(top.map("forwards", _forward))
    tests = tuple(top.map("smoke", smoke.read))
    _unique(path.name, "smoke", [t.name for t in tests])
    top.done()
    return Config(file=path, project=name, provider=provider, variables=values, images=images, swarm=swarm,
                  forwards=forwards, smoke=tests)


def _image(table: Table, key: str, root: Path) -> ImageSpec:
    context = existing(table, "context", root, directory=True)
    dockerfile_name = table.string("dockerfile", "Dockerfile")
    dockerfile = (context / dockerfile_name).resolve()
    if not dockerfile.is_file():
        raise table.error("dockerfile", f"file '{relative(dockerfile, root)}' does not exist")
    ref = table.string("ref", key)
    if not _IMAGE_REF.fullmatch(ref):
        raise table.error("ref", f"expected a repository name such as 'relay' or 'demo/relay', got {ref!r}")
    spec = ImageSpec(name=key, ref=ref, context=context, dockerfile=dockerfile, args=table.str_map("args"),
                     ignore=tuple(table.str_list("ignore", [])),
                     live_update=_live_update(table, context) if table.has("live_update") else None)
    table.done()
    return spec


def _live_update(parent: Table, context: Path) -> LiveUpdate:
    table = parent.table("live_update")
    rules = []
    for rule in table.array_of_tables("sync"):
        local = existing(rule, "local", context)
        if context not in (local, *local.parents):
            raise rule.error("local", f"must lie inside the image's context '{context.name}'")
        rules.append(SyncRule(local=local, remote=rule.string("remote")))
        rule.done()
    if not rules:
        raise table.error("sync", "is required: at least one { local = ..., remote = ... } rule")
    restart = tuple(table.str_list("restart", []))
    table.done()
    return LiveUpdate(sync=tuple(rules), restart=restart)


def _swarm(top: Table, root: Path) -> SwarmSpec:
    if not top.has("swarm"):
        raise top.error("swarm.stack_file", "is required for provider 'swarm' (the stack file to deploy)")
    table = top.table("swarm")
    spec = SwarmSpec(stack_file=existing(table, "stack_file", root))
    table.done()
    return spec


def _forward(table: Table) -> Forward:
    forward = Forward(resource=table.string("resource"), local=table.integer("local", low=1, high=65535),
                      remote=table.integer("remote", low=1, high=65535))
    table.done()
    return forward


def existing(table: Table, key: str, root: Path, *, directory: bool = False) -> Path:
    """A path key, relative to `root`, that must exist (as a directory when asked)."""
    value: str = table.string(key)
    path = (root / value).resolve()
    if directory and not path.is_dir():
        raise table.error(key, f"directory '{value}' does not exist")
    if not directory and not path.exists():
        raise table.error(key, f"'{value}' does not exist")
    return path


def _unique(file: str, key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(file, f"{key}[{i}].name", f"duplicate name {name!r}")
        seen.add(name)

