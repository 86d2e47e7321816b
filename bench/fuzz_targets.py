"""The checks bench/fuzz_bench.py runs on each generated input, one per parser of user input (the same entry
points as tests/property). A check returns when the input loads or is refused as the CLI's exit 2 naming the file
and the key or line; anything else it raises is a crash."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from devstack_sink import faults

from devstack.config import loader, variables
from devstack.errors import ConfigError, InterpolationError, InvalidReference
from devstack.formats import ignore, reference
from devstack.providers.kubernetes import manifests, render
from devstack.providers.swarm import stackfile

_LINE = re.compile(r":\d+(#\d+)?$|line \d+|#\d+")
_INPUTS = stackfile.Inputs(project="fuzz", variables={"RELAY_PORT": "8000", "SINK_SMTP_PORT": "2525",
                                                      "SINK_HTTP_PORT": "8025"}, images={"relay": "relay:1"})
_RENDER = render.Inputs(project="fuzz", namespace="fuzz", refs={"relay": "relay:1"})


class Unlocated(Exception):
    """A refusal that is not the CLI's exit 2 with a file and a key or line."""


def make(name: str, work: Path, repo: Path) -> Callable[[bytes], None]:
    if name == "devstack_toml":
        shutil.copy(repo / "devstack.toml", work)
        for folder in ("stacks", "sink"):
            shutil.copytree(repo / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        return lambda data: _file(work / "devstack.toml", data, lambda: loader.load(work / "devstack.toml", {}))
    if name == "stack_file":
        path = work / "stack.yml"
        return lambda data: _file(path, data, lambda: stackfile.render(path, "stack.yml", _INPUTS))
    if name == "kustomization":
        return lambda data: _kustomization(work, data)
    return {"variables": _variables, "dockerignore": _dockerignore, "reference": _reference, "manifests": _manifests,
            "sink_faults": _sink_faults}[name]


def _refused_well(call: Callable[[], object]) -> None:
    try:
        call()
    except ConfigError as err:
        if err.exit_code != 2 or not err.file or not (err.key or _LINE.search(err.file) or _LINE.search(err.problem)):
            raise Unlocated(str(err)) from None


def _file(path: Path, data: bytes, call: Callable[[], object]) -> None:
    path.write_bytes(data)
    _refused_well(call)


def _variables(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    with contextlib.suppress(InterpolationError):
        variables.interpolate(text, {"A": "a", "EMPTY": "", "secret:x": "s"})
    _refused_well(lambda: variables.interpolate_tree({"key": text}, {"A": "a"}, "stack.yml", source=text))


def _dockerignore(data: bytes) -> None:
    try:
        matcher = ignore.Matcher(ignore.parse(ignore.lines(data)))
    except ignore.PatternError as err:
        if not err.line:
            raise Unlocated(str(err)) from None
        return
    for path in ("a", "a/b.txt", ".x/[y]", "é/{2}"):  # short: long names can backtrack (docs/limits.md)
        matcher.excluded(path)


def _reference(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    with contextlib.suppress(InvalidReference):
        reference.parse(text)
    reference.lookup(text, {"relay": "relay:1", text: "x"})


def _manifests(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    _refused_well(lambda: render.render(manifests.parse(text, "m.yaml"), _RENDER, lambda _api, kind: True))


def _kustomization(work: Path, data: bytes) -> None:
    (work / "kustomization.yaml").write_bytes(data)
    manifests.kustomize_inputs(work)


def _sink_faults(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        rules = faults.parse_rules(text)
    except faults.RuleError:
        rules = []
    with contextlib.suppress(ValueError, RecursionError):  # not JSON (RuleError is a ValueError too)
        rules += faults.rules_from_json(json.loads(text))
    faults.FaultBook(rules).pick("rcpt", ["a@b.test"])
