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

from devstack.config import dashboard, disabled, documents, kubernetes, model, packages, resources, secrets, smoke
from devstack.config import secret_store as dev_secrets
from devstack.config.model import PROVIDERS, SWARM, Config, Forward, ImageSpec, LiveUpdate, SwarmSpec, SyncRule
from devstack.config.reader import Table, relative, resolved
from devstack.config.variables import SECRET_PREFIX, interpolate_tree, read_env_file
from devstack.errors import ConfigError, InterpolationError, InvalidReference, PatternError, UsageError
from devstack.formats import ignore, reference

FILENAME = "devstack.toml"
# `make` (devstack base-image --auto … --record) writes the base image it chose here; builds use it by default.
BASE_RECORD = Path(".devstack") / "base-image"
BASE_VARIABLE = "DEVSTACK_BASE_IMAGE"
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,40}")
# A Docker repository name, optionally behind a registry host[:port].

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
        text = documents.read_text(path, name)
        raw = documents.checked(documents.parse(tomllib.loads, text, name), name)
    except tomllib.TOMLDecodeError as err:
        # tomllib gives a line and column, except when the file ends inside a value: then its last line.
        at_end = str(err).endswith("(at end of document)")
        raise ConfigError(f"{name}:{text.count(chr(10)) + 1}" if at_end else name, "", f"invalid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(name, "", f"cannot read: {_reason(err)}") from None
    declared = Table(raw, name, root=path.parent).str_map("variables")
    values = _variable_values(path.parent, declared, os.environ if environ is None else environ)
    loaded = _secret_values(raw, name, path.parent)
    values.update({f"{SECRET_PREFIX}{name}": value for name, value in loaded.items()})
    # [variables] is taken literally; every other string may use ${VAR}.
    rest = {key: value for key, value in raw.items() if key != "variables"}
    top = Table({**interpolate_tree(rest, values, name, source=text), "variables": raw.get("variables", {})}, name,
                root=path.parent)
    top.table("variables", {})
    return _build(top, path, values, loaded)


def _secret_values(raw: dict[str, Any], file: str, root: Path) -> dict[str, str]:
    """`${secret:NAME}` values: [secrets] is read (literally) before anything is interpolated. Generated on
    first use and stored outside the repository (devstack.config.secret_store)."""
    # Templates are composed of the others by the interpolation that follows: they have no value yet.
    specs = tuple(s for s in secrets.read(Table({"secrets": raw.get("secrets", {})}, file, root=root))
                  if s.template is None)
    project = raw.get("project", {}).get("name") if isinstance(raw.get("project"), dict) else None
    if not specs or not isinstance(project, str) or not _PROJECT_NAME.fullmatch(project):
        return {}  # an invalid [project] is reported with its key when the whole file is read
    return {name: secret.value for name, secret in dev_secrets.load(project, specs).items()}


def _variable_values(root: Path, declared: dict[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    try:
        dotenv = read_env_file(root / ".env")
    except InterpolationError as err:
        where, _, problem = str(err).partition(": ")  # ".env:3", "expected KEY=VALUE, got ..."
        raise ConfigError(where, "", problem) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(".env", "", f"cannot read: {_reason(err)}") from None
    return {**_recorded_base(root), **declared, **dotenv, **environ}


def _recorded_base(root: Path) -> dict[str, str]:
    """The base image `make demo` or `make test` chose on this machine (the offline one when no registry answers),
    so a plain `devstack up` afterwards builds with it too. Lowest precedence: any other source overrides it.
    The nearest record from the project's folder up: a stack in a subfolder (stacks/mailman) uses the checkout's."""
    for folder in (root, *root.parents):
        try:
            recorded = (folder / BASE_RECORD).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        return {BASE_VARIABLE: recorded} if recorded else {}
    return {}


def _reason(err: OSError | UnicodeDecodeError) -> str:
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte {err.start})"
    return err.strerror or str(err)


def _build(top: Table, path: Path, values: dict[str, str], loaded: dict[str, str]) -> Config:
    root = path.parent
    project = top.table("project")
    name = project.string("name")
    if not _PROJECT_NAME.fullmatch(name):
        raise project.error("name", f"expected lower-case letters, digits, '-' or '_' (at most 41), got {name!r}")
    provider = project.string("provider", SWARM, choices=PROVIDERS)
    project.done()
    images = {key: _image(table, key, root) for key, table in top.tables("images")}
    _check_bases(top, images)
    swarm = _swarm(top, root) if top.has("swarm") or provider == SWARM else None
    cluster = kubernetes.read(top, provider, name) if provider in model.KUBERNETES_PROVIDERS else None
    if cluster is None and top.has("kubernetes"):
        raise top.error("kubernetes", f"is used by the Kubernetes providers only, not {provider!r}")
    forwards = tuple(top.map("forwards", _forward))
    tests = tuple(top.map("smoke", smoke.read))
    _unique(path.name, "smoke", [t.name for t in tests])
    specs = secrets.read(top)
    settings, local, commands = resources.read(top)
    web = dashboard.read(top, tests)
    top.done()
    off = disabled.read(root / ".devstack")
    # What is disabled is left out: its forwards are not served, its smoke tests not run, a local one not run.
    return Config(file=path, project=name, provider=provider, variables=values, images=images, swarm=swarm,
                  forwards=tuple(f for f in forwards if f.resource not in off),
                  smoke=tuple(t for t in tests if t.resource not in off), kubernetes=cluster, secrets=specs,
                  resources=settings, local=tuple(spec for spec in local if spec.name not in off),
                  commands=commands, dev_secrets=dev_secrets.compose(specs, loaded), disabled=off, dashboard=web)


def _image(table: Table, key: str, root: Path) -> ImageSpec:
    context = existing(table, "context", root, directory=True)
    dockerfile_name = table.string("dockerfile", "Dockerfile")
    dockerfile = (context / dockerfile_name).resolve()
    if not dockerfile.is_file():
        raise table.error("dockerfile", f"file '{relative(dockerfile, root)}' does not exist")
    ref = _ref(table, key)
    patterns = _ignore(table, context)
    spec = ImageSpec(name=key, ref=ref, context=context, dockerfile=dockerfile, args=table.str_map("args"),
                     ignore=patterns, packages=packages.read(table, context, patterns),
                     live_update=_live_update(table, context, root) if table.has("live_update") else None,
                     base=table.string("base") if table.has("base") else None)
    table.done()
    return spec


def _check_bases(top: Table, images: Mapping[str, ImageSpec]) -> None:
    """`base` names another image of the project, nothing else sets BASE, and the chain of bases ends."""
    layered = {name: spec.base for name, spec in images.items() if spec.base is not None}
    for name, base in layered.items():
        key = f"images.{name}.base"
        if base not in images or base == name:
            others = ", ".join(repr(other) for other in images if other != name) or "none"
            raise top.error(key, f"expected another image of [images] (the one this is built FROM), got {base!r}; "
                                 f"the images: {others}")
        spec = images[name]
        if spec.packages is not None:
            raise top.error(key, f"cannot be combined with `packages`: both set the build arg {model.BASE_ARG} "
                                 f"(list the packages in the package list of image {base!r})")
        if model.BASE_ARG in spec.args:
            raise top.error(key, f"cannot be combined with args.{model.BASE_ARG}: devstack sets that build arg to "
                                 f"the tag of image {base!r}")
    for name in layered:
        chain = [name]
        while (following := layered.get(chain[-1])) is not None and following not in chain:
            chain.append(following)
        if following is not None:
            raise top.error(f"images.{name}.base", f"images built on each other in a loop: "
                                                   f"{' → '.join([*chain, following])}")


def _ref(table: Table, key: str) -> str:
    """A repository name by Docker's grammar (distribution/reference); devstack adds the tag."""
    ref: str = table.string("ref", key)
    expected = f"expected a repository name such as 'relay' or 'demo/relay', got {ref!r}"
    try:
        parsed = reference.parse(ref)
    except InvalidReference as err:
        raise table.error("ref", f"{err}; {expected}") from None
    if parsed.tag or parsed.digest:
        raise table.error("ref", f"a tag or digest has no place here (devstack tags by content); {expected}")
    return ref


def _ignore(table: Table, context: Path) -> tuple[str, ...]:
    """The extra ignore patterns. They and the context's .dockerignore are checked now, before any build."""
    patterns = tuple(table.str_list("ignore", []))
    ignore.read(context)
    try:
        ignore.parse(patterns)
    except PatternError as err:
        raise table.error(f"ignore[{err.line - 1}]", str(err)) from None
    return patterns


def _live_update(parent: Table, context: Path, root: Path) -> LiveUpdate:
    table = parent.table("live_update")
    rules = []
    for rule in table.array_of_tables("sync"):
        local = existing(rule, "local", root)
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
    if not spec.stack_file.is_file():
        raise table.error("stack_file", f"'{relative(spec.stack_file, root)}' is not a file")
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
    path = resolved(Table({}, table.file, table.path, root), key, value)
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

