"""`${VAR}` interpolation with docker-compose's grammar, which `docker stack deploy` lacks.

    $VAR / ${VAR}        the value; an unset variable is an error (compose would silently use "")
    ${VAR:-default}      default when VAR is unset or empty      ${VAR-default}   default when VAR is unset
    ${VAR:?message}      error when VAR is unset or empty        ${VAR?message}   error when VAR is unset
    ${VAR:-${OTHER}}     a default may itself be a variable (one level deep)
    $$                   a literal $
    ${secret:NAME}       the value of the dev secret [secrets.NAME] (generated once, kept outside the repo)

Values come from, lowest to highest precedence: devstack.toml [variables], the project's .env, the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.errors import ConfigError

_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*|secret:[a-z0-9][-a-z0-9.]*)"
    r"(?:(?P<op>:?[-?])(?P<arg>(?:\$\{[^}]*\}|[^}])*))?\}|(?P<invalid>))"
)


SECRET_PREFIX = "secret:"  # `${secret:NAME}`: looked up as "secret:NAME" among the values


class InterpolationError(ValueError):
    """A variable is missing or a `$` is malformed; the caller adds the file and key."""


def interpolate(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("invalid") is not None:
            near = text[match.start() : match.start() + 12].split("\n", 1)[0]
            raise InterpolationError(f"invalid '$' at {near!r} (write $$ for a literal $)")
        name = match.group("plain") or match.group("braced")
        return _resolve(name, match.group("op"), match.group("arg") or "", values)

    return _PATTERN.sub(replace, text)


def _resolve(name: str, op: str | None, arg: str, values: Mapping[str, str]) -> str:
    value = values.get(name)
    empty = value is None or (op is not None and op.startswith(":") and value == "")
    if value is None and name.startswith(SECRET_PREFIX):
        secret = name.removeprefix(SECRET_PREFIX)
        raise InterpolationError(f"no dev secret {secret!r}: declare it as [secrets.{secret}] in devstack.toml")
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
    """`"a # b"` → `a # b`; `"a" # note` → `a`; `a # note` → `a`."""
    end = value.find(value[0], 1) if value[:1] in ("'", '"') else -1
    if end != -1:
        return value[1:end]
    return value.split(" #", 1)[0].rstrip()


def interpolate_tree(node: Any, values: Mapping[str, str], file: str, key: str = "", *,
                     cast_numbers: bool = False) -> Any:
    """Interpolate every string in parsed TOML or YAML. Values only, never keys (compose does the same); an
    error names the file and the key path, e.g. `stack.yml: services.relay.environment.TOKEN: …`.

    `cast_numbers` (YAML): `published: ${PORT}` must stay a number for `docker stack deploy`, as it would have
    been with the value written in. Only a canonical integer is cast ("8000", never "08000"), so no value
    changes: `docker stack deploy` turns numbers in environments and labels back into the same text."""
    if isinstance(node, str):
        try:
            result = interpolate(node, values)
        except InterpolationError as err:
            raise ConfigError(file, key, str(err)) from None
        if cast_numbers and "$" in node and _CANONICAL_INT.fullmatch(result):
            return int(result)
        return result
    if isinstance(node, dict):
        return {k: interpolate_tree(v, values, file, f"{key}.{k}" if key else str(k), cast_numbers=cast_numbers)
                for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, values, file, f"{key}[{i}]", cast_numbers=cast_numbers)
                for i, v in enumerate(node)]
    return node


_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")
