"""A typed reader over one TOML table that knows its key path, so every error names file, key and expectation.

Each accessor removes the key it reads; `done()` then reports whatever is left as unknown, with a did-you-mean.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from devstack.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()
_NUMBERS = {int: re.compile(r"-?\d+"), float: re.compile(r"-?\d+(\.\d+)?")}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # TOML's bare keys; any other key is written quoted, as TOML does

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "a table"}


class Table:
    def __init__(self, data: dict[str, Any], file: str, path: str = "", root: Path | None = None) -> None:
        self._data = dict(data)
        self.root = root or Path.cwd()  # relative paths in values are relative to this folder
        self._asked: list[str] = []  # every key the schema looked for: the did-you-mean candidates
        self.file = file
        self.path = path

    def key(self, name: str) -> str:
        name = name or '""'  # an empty key (TOML allows `"" = 1`) is still named
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def has(self, name: str) -> bool:
        self._asked.append(name)
        return name in self._data

    def take(self, name: str, kind: type, default: Any) -> Any:
        self._asked.append(name)
        if name not in self._data:
            if default is _MISSING:
                # A missing `context` next to a `contxt = ...` is most likely that typo: say so.
                typos = difflib.get_close_matches(name, list(self._data), n=1, cutoff=0.6)
                hint = f", found {typos[0]!r} instead (a typo?)" if typos else ""
                raise ConfigError(self.file, self.key(name), f"is required ({_TYPE_NAMES[kind]}){hint}")
            return default
        value = self._data.pop(name)
        # `${VAR}` only lives in strings, so a number may come as a numeric string: `port = "${SMTP_PORT}"`.
        if kind in _NUMBERS and isinstance(value, str) and _NUMBERS[kind].fullmatch(value.strip()):
            value = kind(value.strip())
        # TOML has no int/bool confusion, but bool is a subclass of int in Python.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            got = type(value).__name__
            raise ConfigError(self.file, self.key(name), f"expected {_TYPE_NAMES[kind]}, got {got} {value!r}")
        return value

    def string(self, name: str, default: Any = _MISSING, *, choices: tuple[str, ...] = ()) -> Any:
        value = self.take(name, str, default)
        if choices and value not in choices:
            raise self.error(name, f"expected one of {', '.join(map(repr, choices))}, got {value!r}"
                             + did_you_mean(value, choices))
        return value

    def integer(self, name: str, default: Any = _MISSING, *, low: int | None = None, high: int | None = None) -> Any:
        value = self.take(name, int, default)
        if isinstance(value, int) and ((low is not None and value < low) or (high is not None and value > high)):
            raise self.error(name, f"expected an integer {_bounds(low, high)}, got {value}")
        return value

    def number(self, name: str, default: Any = _MISSING, *, positive: bool = False) -> Any:
        value = self.take(name, float, default)
        if positive and isinstance(value, float) and value <= 0:
            raise self.error(name, f"expected a number above 0, got {value}")
        return value

    def boolean(self, name: str, default: Any = _MISSING) -> Any:
        return self.take(name, bool, default)

    def str_list(self, name: str, default: Any = _MISSING) -> Any:
        value = self.take(name, list, default)
        for i, item in enumerate(value or ()):
            if not isinstance(item, str):
                raise ConfigError(self.file, f"{self.key(name)}[{i}]", f"expected a string, got {item!r}")
        return value

    def str_map(self, name: str) -> dict[str, str]:
        table = self.table(name, {})
        return {k: table.scalar_str(k) for k in list(table._data)}

    def scalar_str(self, name: str) -> str:
        """A string, integer or boolean, as a string (for env-like maps such as build args)."""
        value = self._data.pop(name)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise self.error(name, f"expected a string or number, got {type(value).__name__}")

    def table(self, name: str, default: Any = _MISSING) -> Table:
        value = self.take(name, dict, default)
        return Table(value if value is not None else {}, self.file, self.key(name), self.root)

    def tables(self, name: str) -> Iterator[tuple[str, Table]]:
        """The sub-tables of a table of tables, such as [images.NAME]."""
        outer = self.table(name, {})
        for sub in list(outer._data):
            yield sub, outer.table(sub)
        outer.done()

    def array_of_tables(self, name: str) -> Iterator[Table]:
        items = self.take(name, list, [])
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigError(self.file, f"{self.key(name)}[{i}]", f"expected a table, got {item!r}")
            yield Table(item, self.file, f"{self.key(name)}[{i}]", self.root)

    def map(self, name: str, read: Callable[[Table], T]) -> list[T]:
        return [read(t) for t in self.array_of_tables(name)]

    def done(self) -> None:
        for name in self._data:
            written = name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)
            raise ConfigError(self.file, self.key(written), "unknown key" + did_you_mean(name, self._asked))


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    return f"of at least {low}" if low is not None else f"of at most {high}"


def did_you_mean(word: str, candidates: Any) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def resolved(table: Table, key: str, value: str) -> Path:
    """`value`, a path relative to the table's root, made absolute; one the system cannot look at (a name too long,
    a NUL byte) is refused with the key."""
    try:
        path = (table.root / value).resolve()
        path.exists()
    except (OSError, ValueError) as err:
        raise table.error(key, f"not a usable path: {getattr(err, 'strerror', None) or err}") from None
    return path


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
