"""Parsed documents (devstack.toml, stack files, manifests, JSON payloads) held to what a person writes.

The parsers recurse: a document nested a few hundred levels deep makes them fail with RecursionError, and YAML
aliases can make a short file stand for billions of values (which `docker stack deploy` refuses too: "excessive
aliasing"). Here both are a user's mistake with the file and the line or key, not a crash or a hang.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from devstack.errors import ConfigError

T = TypeVar("T")
MAX_DEPTH = 100  # tables, lists or mappings inside each other
MAX_VALUES = 100_000  # values, counting each use of a YAML alias (a big stack file holds a few thousand)
# LibYAML (bundled with PyYAML's wheels) reads deep nesting fast and stops at 1,000 levels; the pure-Python
# loader takes quadratic time over nested flow collections before it fails.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_text(path: Path, file: str) -> str:
    """A file's text; one that is not UTF-8 is refused at the line of its first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"{file}:{line}", "", f"not UTF-8: byte {data[err.start]:#04x}") from None


def yaml_documents(text: str, file: str) -> list[Any]:
    """Every document of a YAML text, checked; a YAML error names the line where the parser stopped."""
    try:
        found = parse(lambda t: list(yaml.load_all(t, Loader=_YAML_LOADER)), text, file)
    except yaml.YAMLError as err:
        line = _yaml_line(err, text)
        raise ConfigError(f"{file}:{line}" if line else file, "", f"invalid YAML: {err}") from None
    return [checked(document, file) for document in found]


def document_lines(text: str) -> list[int]:
    """The line (from 1) where each document of a YAML text starts; for a text yaml_documents has read."""
    return [int(event.start_mark.line) + 1 for event in yaml.parse(text, Loader=_YAML_LOADER)
            if isinstance(event, yaml.DocumentStartEvent) and event.start_mark is not None]


def _yaml_line(err: yaml.YAMLError, text: str) -> int | None:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(err, "position", None)  # a character the reader refuses (a NUL, say)
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def parse(load: Callable[[str], T], text: str, file: str) -> T:
    """`load(text)`, with a document too deeply nested for the parser refused at the line where it goes too deep."""
    try:
        return load(text)
    except RecursionError:
        line = _too_deep_at(text)
        raise ConfigError(f"{file}:{line}" if line else file, "", f"nested more than {MAX_DEPTH} levels deep, "
                          "too deep to read") from None


def checked(document: T, file: str) -> T:
    """The document, once it is known to be at most MAX_DEPTH deep and MAX_VALUES large (aliases expanded)."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    count = 0
    while stack:
        node, key, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(file, _short(key), f"more than {MAX_VALUES:,} values (YAML aliases count each time "
                              "they are used)")
        if depth > MAX_DEPTH:
            raise ConfigError(file, _short(key), f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack += [(value, f"{key}.{name}" if key else str(name), depth + 1) for name, value in node.items()]
        elif isinstance(node, list):
            stack += [(value, f"{key}[{i}]", depth + 1) for i, value in enumerate(node)]
    return document


def _too_deep_at(text: str) -> int | None:
    """The first line where brackets, braces and YAML's `- ` open more than MAX_DEPTH levels (strings are not
    told apart: this only locates a document already known to be too deep)."""
    depth = 0
    for number, line in enumerate(text.splitlines(), 1):
        dashes = len(line) - len(line.lstrip(" -"))  # `- - - x`: sequences in sequences
        for char in line:
            depth += (char in "[{") - (char in "]}")
            if depth + dashes // 2 > MAX_DEPTH:
                return number
    return None


def _short(key: str) -> str:
    return key if len(key) <= 200 else key[:100] + "…" + key[-100:]
