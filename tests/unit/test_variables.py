"""`${VAR}` interpolation (docker-compose's grammar, stricter about unset variables), .env files, and where values
come from: [variables] < .env < the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import loader
from devstack.config.variables import InterpolationError, interpolate, read_env_file
from tests.unit.conftest import MINIMAL, Project

VALUES = {"SET": "value", "EMPTY": "", "OTHER": "other", "A_B": "ab"}


@pytest.mark.parametrize(("text", "expected"), [
    ("no variables here", "no variables here"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("x${SET}y", "xvaluey"),
    ("$SET/$OTHER", "value/other"),
    ("$A_B", "ab"),  # the longest name
    ("${SET}_B", "value_B"),
    ("$EMPTY|${EMPTY}", "|"),
    # :- and -
    ("${UNSET:-fallback}", "fallback"),
    ("${EMPTY:-fallback}", "fallback"),
    ("${SET:-fallback}", "value"),
    ("${UNSET-fallback}", "fallback"),
    ("${EMPTY-fallback}", ""),
    ("${SET-fallback}", "value"),
    ("${UNSET:-}", ""),
    ("${BASE:-python:3.11-slim}", "python:3.11-slim"),
    ("${UNSET:-a b/c=d}", "a b/c=d"),
    # a default may name a variable
    ("${UNSET:-$OTHER}", "other"),
    ("${UNSET:-${OTHER}}", "other"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-${OTHER}}/x", "other/x"),
    # :? and ? when the value is there
    ("${SET:?needed}", "value"),
    ("${SET?needed}", "value"),
    ("${EMPTY?needed}", ""),
    # $$
    ("$$", "$"),
    ("price: $$5", "price: $5"),
    ("$${SET}", "${SET}"),
    ("$$$SET", "$value"),
    ("${UNSET:-$$}", "$"),
])
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, VALUES) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("$UNSET", "variable 'UNSET' is not set (set it in the environment, .env or [variables], or give a default: "
               "${UNSET:-default})"),
    ("${UNSET}", "variable 'UNSET' is not set"),
    ("${UNSET:?set the relay password}", "variable 'UNSET' is required: set the relay password"),
    ("${EMPTY:?set the relay password}", "variable 'EMPTY' is required: set the relay password"),
    ("${UNSET?}", "variable 'UNSET' is required: not set"),
    ("${UNSET:-$ALSO_UNSET}", "variable 'ALSO_UNSET' is not set"),
    ("cost $", "invalid '$' at '$' (write $$ for a literal $)"),
    ("a $ b", "invalid '$' at '$ b'"),
    ("$1", "invalid '$' at '$1'"),
    ("${}", "invalid '$' at '${}'"),
    ("${SET", "invalid '$' at '${SET'"),
    ("${SET:+alt}", "invalid '$' at '${SET:+alt}'"),
    ("${SET OTHER}", "invalid '$' at '${SET OTHER}'"),
    ("${UNSET:-${OTHER}", "invalid '$' at '${OTHER'"),
])
def test_interpolate_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        interpolate(text, VALUES)
    assert str(caught.value).startswith(message)


def test_only_the_first_twelve_characters_are_quoted() -> None:
    with pytest.raises(InterpolationError, match=r"^invalid '\$' at '\$\{a very lon'"):
        interpolate("${a very long mistake}", {})


# --- .env -------------------------------------------------------------------------------------------------------------


def env(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return read_env_file(path)


def test_env_file(tmp_path: Path) -> None:
    text = """# a comment
PLAIN=value

export EXPORTED=yes
  SPACED = around\t
DOUBLE="with spaces # not a comment"
SINGLE='$NOT_EXPANDED'
COMMENTED=value # a comment
HASH=a#b
EQUALS=a=b=c
EMPTY=
QUOTED_COMMENT="quoted" # a comment
"""
    assert env(tmp_path, text) == {
        "PLAIN": "value", "EXPORTED": "yes", "SPACED": "around", "DOUBLE": "with spaces # not a comment",
        "SINGLE": "$NOT_EXPANDED", "COMMENTED": "value", "HASH": "a#b", "EQUALS": "a=b=c", "EMPTY": "",
        "QUOTED_COMMENT": "quoted"}


def test_missing_env_file_is_empty(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / ".env") == {}


def test_later_lines_win(tmp_path: Path) -> None:
    assert env(tmp_path, "A=1\nA=2\n") == {"A": "2"}


@pytest.mark.parametrize(("line", "number"), [("JUSTAKEY", 2), ("1ABC=x", 2), ("A B=c", 2), ("=value", 2)])
def test_env_file_errors_name_the_line(tmp_path: Path, line: str, number: int) -> None:
    with pytest.raises(InterpolationError) as caught:
        env(tmp_path, f"OK=1\n{line}\n")
    assert str(caught.value) == f".env:{number}: expected KEY=VALUE, got {line!r}"


# --- precedence: [variables] < .env < environment ---------------------------------------------------------------------


def test_precedence(project: Project) -> None:
    project.write(".env", "FROM_ENV_FILE=dotenv\nEVERYWHERE=dotenv\n")
    toml = ('[variables]\nONLY_TOML = "toml"\nFROM_ENV_FILE = "toml"\nEVERYWHERE = "toml"\n' + MINIMAL
            + '[[forwards]]\nresource = "${ONLY_TOML}-${FROM_ENV_FILE}-${EVERYWHERE}"\nlocal = 1\nremote = 1\n')
    config = project.load(toml, environ={"EVERYWHERE": "environ"})
    assert {k: config.variables[k] for k in ("ONLY_TOML", "FROM_ENV_FILE", "EVERYWHERE")} == {
        "ONLY_TOML": "toml", "FROM_ENV_FILE": "dotenv", "EVERYWHERE": "environ"}
    assert config.forwards[0].resource == "toml-dotenv-environ"


def test_an_empty_environment_value_still_wins(project: Project) -> None:
    config = project.load('[variables]\nTAG = "toml"\n' + MINIMAL, environ={"TAG": ""})
    assert config.variables["TAG"] == ""


def test_the_process_environment_is_used_by_default(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_TEST_NAME", "from-environ")
    config = loader.load(project.write("devstack.toml", MINIMAL.replace('"demo"', '"${DEVSTACK_TEST_NAME}"')))
    assert config.project == "from-environ"
