"""`${VAR}` interpolation with docker-compose's grammar, which `docker stack deploy` lacks.

    $VAR / ${VAR}        the value; an unset variable is an error (compose would silently use "")
    ${VAR:-default}      default when VAR is unset or empty      ${VAR-default}   default when VAR is unset
    ${VAR:?message}      error when VAR is unset or empty        ${VAR?message}   error when VAR is unset
    $$                   a literal $

Values come from, lowest to highest precedence: devstack.toml [variables], the project's .env, the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<invalid>))"
)


class InterpolationError(ValueError):
    """A variable is missing or a `$` is malformed; the caller adds the file and key."""


def interpolate(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("invalid") is not None:
            near = text[match.start() : match.start() + 12]
            raise InterpolationError(f"invalid '$' at {near!r} (write $$ for a literal $)")
        name = match.group("plain") or match.group("braced")
        return _resolve(name, match.group("op"), match.group("arg") or "", values)

    return _PATTERN.sub(replace, text)


def _resolve(name: str, op: str | None, arg: str, values: Mapping[str, str]) -> str:
    value = values.get(name)
    empty = value is None or (op is not None and op.startswith(":") and value == "")
    if op is None:
        if value is None:
            raise InterpolationError(
                f"variable '{name}' is not set (set it in the environment, .env or [variables], "
                f"or give a default: ${{{name}:-default}})")
        return value
    if not empty:
        return value or ""
    if op.endswith("-"):
        return interpolate(arg, values)
    raise InterpolationError(f"variable '{name}' is required: {arg or 'not set'}")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a .env file: KEY=VALUE lines, `export` prefixes, # comments, optional single or double quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise InterpolationError(f"{path.name}:{number}: expected KEY=VALUE, got {raw!r}")
        values[key] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].rstrip()
