"""`${VAR}` interpolation with compose's grammar (compose-spec/compose-go), which `docker stack deploy` lacks.

    $VAR / ${VAR}        the value; an unset variable is an error (compose would silently use "")
    ${VAR:-default}      default when VAR is unset or empty      ${VAR-default}   default when VAR is unset
    ${VAR:+alt}          alt when VAR is set and not empty       ${VAR+alt}       alt when VAR is set
    ${VAR:?message}      error when VAR is unset or empty        ${VAR?message}   error when VAR is unset
    $$                   a literal $
    ${secret:NAME}       the value of the dev secret [secrets.NAME] (generated once, kept outside the repo)

A default, alt or message may hold variables, nested to any depth, and braces that balance
(`${JSON:-{"a":{}}}`); only the branch taken is evaluated, as in compose. docs/configuration.md lists every difference
from compose, each with its reason.

Values come from, lowest to highest precedence: devstack.toml [variables], the project's .env, the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.errors import ConfigError, InterpolationError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED_NAME = re.compile(r"secret:[a-z0-9][-a-z0-9.]*|[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR = re.compile(r":?[-+?]")

SECRET_PREFIX = "secret:"  # `${secret:NAME}`: looked up as "secret:NAME" among the values


def interpolate(text: str, values: Mapping[str, str]) -> str:
    result, _ = _Scanner(text, values).expand(0, evaluate=True, inside=False)
    return result


@dataclass
class _Scanner:
    """One pass over the text. `expand` returns the expansion and the index where it stopped: the end of the
    text or, inside an operand, its closing brace (the end of the line or text when there is none).
    `evaluate=False` reads a branch not taken without resolving it: its syntax is checked, its variables
    need not exist."""

    text: str
    values: Mapping[str, str]

    def expand(self, pos: int, *, evaluate: bool, inside: bool) -> tuple[str, int]:
        out: list[str] = []
        depth = 0  # literal braces opened inside an operand, which must close before the operand does
        while pos < len(self.text):
            char = self.text[pos]
            if char == "$":
                piece, pos = self.dollar(pos, evaluate)
                out.append(piece)
                continue
            if inside and char == "}":
                if depth == 0:
                    return "".join(out), pos
                depth -= 1
            elif inside and char == "{":
                depth += 1
            elif inside and char == "\n":
                break  # as in compose, a `${...}` ends on its own line
            out.append(char)
            pos += 1
        return "".join(out), pos

    def dollar(self, pos: int, evaluate: bool) -> tuple[str, int]:
        """`$$`, `$NAME` or `${...}` at pos; returns its expansion and the index after it."""
        after = pos + 1
        if self.text.startswith("$", after):
            return "$", after + 1
        if self.text.startswith("{", after):
            return self.braced(pos, evaluate)
        name = _NAME.match(self.text, after)
        if name is None:
            raise self.invalid(pos)
        return self.resolve(name.group(), None, "", evaluate), name.end()

    def braced(self, start: int, evaluate: bool) -> tuple[str, int]:
        name = _BRACED_NAME.match(self.text, start + 2)
        if name is None:
            raise self.invalid(start)
        pos = name.end()
        if self.text.startswith("}", pos):
            return self.resolve(name.group(), None, "", evaluate), pos + 1
        operator = _OPERATOR.match(self.text, pos)
        if operator is None:
            raise self.invalid(start)
        op = operator.group()
        take = evaluate and self.takes_operand(name.group(), op)
        operand, end = self.expand(operator.end(), evaluate=take, inside=True)
        if not self.text.startswith("}", end):
            raise self.invalid(start)  # unclosed: the braces of the operand do not balance
        return self.resolve(name.group(), op, operand, evaluate and not take, taken=take), end + 1

    def takes_operand(self, name: str, op: str) -> bool:
        value = self.values.get(name)
        present = value is not None and (value != "" or not op.startswith(":"))
        return present if op.endswith("+") else not present

    def resolve(self, name: str, op: str | None, operand: str, evaluate: bool, *, taken: bool = False) -> str:
        if taken:
            if op is not None and op.endswith("?"):
                message = f": {operand}" if operand else ""
                raise InterpolationError(f"required variable {name} is missing a value{message}")
            return operand
        if not evaluate:
            return ""
        value = self.values.get(name)
        if value is None and name.startswith(SECRET_PREFIX):
            secret = name.removeprefix(SECRET_PREFIX)
            raise InterpolationError(f"no dev secret {secret!r}: declare it as [secrets.{secret}] in devstack.toml")
        if value is None and op is None:
            raise InterpolationError(
                f"variable '{name}' is not set (set it in the environment, .env or [variables], "
                f"or give a default: ${{{name}:-default}})")
        return value or ""

    def near(self, pos: int) -> str:
        return self.text[pos : pos + 12].split("\n", 1)[0]

    def invalid(self, pos: int) -> InterpolationError:
        return InterpolationError(f"invalid '$' at {self.near(pos)!r} (write $$ for a literal $)")


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
                     cast_numbers: bool = False, source: str = "") -> Any:
    """Interpolate every string in parsed TOML or YAML. Values only, never keys (compose does the same); an
    error names the file, the line (when `source`, the file's text, holds the value as written) and the key
    path, e.g. `stack.yml:12: services.relay.environment.TOKEN: …`.

    `cast_numbers` (YAML): `published: ${PORT}` must stay a number for `docker stack deploy`, as it would have
    been with the value written in. Only a canonical integer is cast ("8000", never "08000"), so no value
    changes: `docker stack deploy` turns numbers in environments and labels back into the same text."""
    if isinstance(node, str):
        try:
            result = interpolate(node, values)
        except InterpolationError as err:
            line = _line_of(source, node)
            raise ConfigError(f"{file}:{line}" if line else file, key, str(err)) from None
        if cast_numbers and "$" in node and _CANONICAL_INT.fullmatch(result):
            return int(result)
        return result
    if isinstance(node, dict):
        return {k: interpolate_tree(v, values, file, f"{key}.{k or chr(34) * 2}" if key else str(k) or '""',
                                    cast_numbers=cast_numbers, source=source) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, values, file, f"{key}[{i}]", cast_numbers=cast_numbers, source=source)
                for i, v in enumerate(node)]
    return node


def _line_of(source: str, text: str) -> int | None:
    """The line where `text` starts in the file's text (its first occurrence outside a comment line), if it is
    written there as it is (TOML or YAML escapes can hide it: then the key path alone says where)."""
    at = source.find(text) if text else -1
    while at >= 0:
        start = source.rfind("\n", 0, at) + 1
        if not source[start:at].lstrip().startswith("#"):
            return source.count("\n", 0, at) + 1
        at = source.find(text, at + 1)
    return None


_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")
