"""`${VAR}` interpolation (docker-compose's grammar, stricter about unset variables), .env files, and where values
come from: [variables] < .env < the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import loader
from devstack.config.variables import InterpolationError, interpolate, read_env_file
from tests.unit.conftest import MINIMAL, Project

VALUES = {"SET": "value", "EMPTY": "", "OTHER": "other", "A_B": "ab"}

# --- the reference tables --------------------------------------------------------------------------------------------
# Transcribed from compose-spec/compose-go template/template_test.go and docker/cli cli/compose/template/
# template_test.go: the cases, with their mapping (FOO="first", BAR="" and JSON='{"json":2}'; anything else unset).
# Where devstack deliberately differs, the case is in DIFFERENCES below (and in docs/configuration.md's table) instead.

REFERENCE = {"FOO": "first", "BAR": "", "JSON": '{"json":2}'}

REFERENCE_CASES = [
    ("$${foo}", "${foo}"),  # TestEscaped
    ("foo", "foo"),  # TestSubstituteNoMatch
    ("$FOO-bar", "first-bar"),  # TestNonBraced
    ("This $FOO var", "This first var"), ("This ${FOO} var", "This first var"),  # TestValueNoDefault
    ("This ${BAR} var", "This  var"),  # TestNoValueNoDefault (the set-but-empty half)
    ("ok ${missing:-def}", "ok def"), ("ok ${missing-def}", "ok def"),  # TestNoValueWithDefault
    ("ok ${BAR:-def}", "ok def"),  # TestEmptyValueWithSoftDefault
    ("ok ${FOO:-def}", "ok first"),  # TestValueWithSoftDefault
    ("ok ${BAR-def}", "ok "),  # TestEmptyValueWithHardDefault
    ("ok ${UNSET_VAR:+presence_value}", "ok "),  # TestPresentValueWithUnset
    ("ok ${UNSET_VAR+presence_value}", "ok "),  # TestPresentValueWithUnset2
    ("ok ${FOO:+presence_value}", "ok presence_value"),  # TestPresentValueWithNonEmpty
    ("ok ${FOO+presence_value}", "ok presence_value"),  # TestPresentValueAndNonEmptyWithNonEmpty
    ("ok ${BAR+presence_value}", "ok presence_value"),  # TestPresentValueWithSet
    ("ok ${BAR:+presence_value}", "ok "),  # TestPresentValueAndNotEmptyWithSet
    ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),  # TestNonAlphanumericDefault
    ("${A:+${A},}B", "B"),  # TestLazyDefaultDoesNotWarn: the branch not taken is not evaluated
    # TestInterpolationExternalInterference
    ("-ok ${BAR:-defaultValue}", "-ok defaultValue"),
    ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
    ("-ok ${FOO:-defaultValue}", "-ok first"),
    (":-ok ${UNSET-defaultValue}", ":-ok defaultValue"),
    (":-ok ${BAR-defaultValue}", ":-ok "),
    (":?ok ${BAR-defaultValue}", ":?ok "),
    (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
    (":+ok ${BAR:-defaultValue}", ":+ok defaultValue"),
    ("+ok ${BAR-defaultValue}", "+ok "),
    ("?ok ${BAR:-defaultValue}", "?ok defaultValue"),
    # TestDefaultsWithNestedExpansion
    ("ok ${UNSET_VAR-$FOO}", "ok first"),
    ("ok ${UNSET_VAR-${FOO}}", "ok first"),
    ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
    ("ok ${BAR:-$FOO}", "ok first"),
    ("ok ${BAR:-${FOO}}", "ok first"),
    ("ok ${BAR:-${FOO} ${FOO}}", "ok first first"),
    ("ok ${BAR+$FOO}", "ok first"),
    ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
    # TestDefaultsForMandatoryVariables
    ("ok ${FOO:?err}", "ok first"), ("ok ${FOO?err}", "ok first"), ("ok ${BAR?err}", "ok "),
    # TestPrecedence: the first operator after the name is the one
    ("${UNSET_VAR-myerror?msg}", "myerror?msg"),
    ("${FOO?bar-baz}", "first"),
    ("${BAR:-default_value_for_empty_var}", "default_value_for_empty_var"),
    ("${UNSET_VAR-default_value_for_unset_var}", "default_value_for_unset_var"),
    # TestSubstitutionFunctionChoice, as whole templates: the operator right after the name wins
    ("${UNSET:-va:-lu:?e}", "va:-lu:?e"), ("${UNSET-va+lu?e}", "va+lu?e"), ("${UNSET-va?lu+e}", "va?lu+e"),
    ("${FOO:+va:?lu:-e}", "va:?lu:-e"), ("${FOO+va:+lue}", "va:+lue"), ("${FOO+va?lu-e}", "va?lu-e"),
    ("${FOO:?val?ue}", "first"), ("${FOO?val:?ue}", "first"), ("${FOO?va-lu+e:?e}", "first"),
    # TestNoValueWithCurlyBracesDefault, TestValueWithCurlyBracesDefault
    ('ok ${missing:-{"json":1}}', 'ok {"json":1}'), ('ok ${missing-{"json":1}}', 'ok {"json":1}'),
    ('ok ${JSON:-{"json":1}}', 'ok {"json":2}'), ('ok ${JSON-{"json":1}}', 'ok {"json":2}'),
]

REFERENCE_ERRORS = [
    # TestInvalid ("Invalid template" there)
    ("${", "invalid '$' at '${'"), ("${}", "invalid '$' at '${}'"), ("${ }", "invalid '$' at '${ }'"),
    ("${ foo}", "invalid '$' at '${ foo}'"), ("${foo }", "invalid '$' at '${foo }'"),
    ("${foo!}", "invalid '$' at '${foo!}'"),
    # TestMandatoryVariableErrors
    ("not ok ${UNSET_VAR:?Mandatory Variable Unset}",
     "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"),
    ("not ok ${BAR:?Mandatory Variable Empty}", "required variable BAR is missing a value: Mandatory Variable Empty"),
    ("not ok ${UNSET_VAR:?}", "required variable UNSET_VAR is missing a value"),
    ("not ok ${UNSET_VAR?Mandatory Variable Unset}",
     "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"),
    ("not ok ${UNSET_VAR?}", "required variable UNSET_VAR is missing a value"),
    # TestMandatoryVariableErrorsWithNestedExpansion
    ("not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}",
     "required variable UNSET_VAR is missing a value: Mandatory Variable first"),
    ("not ok ${UNSET_VAR?Mandatory Variable ${FOO}}",
     "required variable UNSET_VAR is missing a value: Mandatory Variable first"),
    ("${UNSET_VAR?bar-baz}", "required variable UNSET_VAR is missing a value: bar-baz"),  # TestPrecedence
]

# Where devstack differs from compose-go on purpose: (template, what compose-go gives, what devstack says).
# Each row is a row of the "Differences from compose" table in docs/configuration.md.
DIFFERENCES = [
    # an unset variable with no default: compose warns and uses "", devstack stops (TestNoValueNoDefault)
    ("This ${missing} var", "This  var", "variable 'missing' is not set"),
    ("$missing", "", "variable 'missing' is not set"),
    ("${A:-${B}}", "", "variable 'B' is not set"),  # TestLazyDefaultWarnsWhenUsed
    # a `$` that starts nothing: compose-go keeps it (TestUnescaped), devstack refuses it as docker/cli does
    ("a $ string", "a $ string", "invalid '$' at '$ string'"),
    ("^REGEX$", "^REGEX$", "invalid '$' at '$'"),
    ("$}", "$}", "invalid '$' at '$}'"),
    ("$", "$", "invalid '$' at '$'"),
    ("$1", "$1", "invalid '$' at '$1'"),
    # an operand whose braces never balance: compose-go reads on to the line's last `}`, devstack refuses it
    ("${BAR:-{x} and ${FOO}", "{x} and first", "invalid '$' at '${BAR:-{x} a'"),
    # compose-go's brace counter skips the character after each `{`, so `{{` ends the operand one `}` early
    ("${FOO:-{{x}}}", "first}", "first"),
]


@pytest.mark.parametrize(("text", "expected"), REFERENCE_CASES)
def test_reference_cases(text: str, expected: str) -> None:
    assert interpolate(text, REFERENCE) == expected


@pytest.mark.parametrize(("text", "message"), REFERENCE_ERRORS)
def test_reference_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        interpolate(text, REFERENCE)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("text", "compose", "devstack"), DIFFERENCES)
def test_differences_from_compose(text: str, compose: str, devstack: str) -> None:
    try:
        result = interpolate(text, REFERENCE)
    except InterpolationError as err:
        result = str(err)
    assert result != compose
    assert result.startswith(devstack)


def test_the_readme_lists_every_difference() -> None:
    readme = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = readme.split("### Differences from compose", 1)[1].split("\n\n", 2)[1]
    for text, _, _ in DIFFERENCES:
        assert f"`{text}`" in table, text


# --- devstack's own cases --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("no variables here", "no variables here"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("x${SET}y", "xvaluey"),
    ("$SET/$OTHER", "value/other"),
    ("$A_B", "ab"),  # the longest name
    ("${SET}_B", "value_B"),
    ("$EMPTY|${EMPTY}", "|"),
    ("${UNSET:-}", ""),
    ("${BASE:-python:3.11-slim}", "python:3.11-slim"),
    ("${UNSET:-a b/c=d}", "a b/c=d"),
    ("${UNSET:-${ALSO_UNSET:-${AND_THIS:-${OTHER}}}}", "other"),  # nesting to any depth
    ("${SET:+${UNSET:-${OTHER:+{${OTHER}}}}}", "{other}"),
    ("${UNSET:-${OTHER}}/x", "other/x"),
    ("${UNSET:+${NOT_EVALUATED}}${SET?${NOR_THIS}}", "value"),
    ("${CFG-{}}", "{}"), ("${SET-{}}", "value"),  # the example: `${CFG-{}}` with CFG=x gave "x}"
    ('${UNSET:-{"a":{"b":[1,{}]}}}', '{"a":{"b":[1,{}]}}'),
    ("${UNSET:-}}", "}"),  # a `}` after the operand's closing brace is text
    ("$$", "$"),
    ("price: $$5", "price: $5"),
    ("$$$SET", "$value"),
    ("${UNSET:-$$}", "$"),
    ("${UNSET:-$${SET}}", "${SET}"),
])
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, VALUES) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("$UNSET", "variable 'UNSET' is not set (set it in the environment, .env or [variables], or give a default: "
               "${UNSET:-default})"),
    ("${UNSET}", "variable 'UNSET' is not set"),
    ("${UNSET:?set the relay password}", "required variable UNSET is missing a value: set the relay password"),
    ("${UNSET:?set ${OTHER} too}", "required variable UNSET is missing a value: set other too"),
    ("${UNSET:-$ALSO_UNSET}", "variable 'ALSO_UNSET' is not set"),
    ("${UNSET:-${A:-${B:-${C}}}}", "variable 'C' is not set"),
    ("${SET:+${NOT_EVALUATED:-${bad name}}}", "invalid '$' at '${bad name}}'"),  # a branch not taken is still read
    ("cost $", "invalid '$' at '$' (write $$ for a literal $)"),
    ("${SET", "invalid '$' at '${SET'"),
    ("${SET:=x}", "invalid '$' at '${SET:=x}'"),
    ("${SET OTHER}", "invalid '$' at '${SET OTHER}'"),
    ("${UNSET:-${OTHER}", "invalid '$' at '${UNSET:-${O'"),
    ("${UNSET:-{x}", "invalid '$' at '${UNSET:-{x}'"),
    ("${UNSET:-a\nb}", "invalid '$' at '${UNSET:-a'"),  # as in compose, `${...}` does not span lines
    ("${secret:nope}", "no dev secret 'nope': declare it as [secrets.nope] in devstack.toml"),
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


# --- the base image `make` recorded ----------------------------------------------------------------------------------

TOML = MINIMAL.replace('context = "relay"\n', 'context = "relay"\n'
                       'args = { BASE = "${DEVSTACK_BASE_IMAGE:-python:3.11-slim-bookworm}" }\n')


def test_the_recorded_base_image_is_used_without_the_variable(project: Project) -> None:
    """After `make demo` recorded the offline base, a plain `devstack up` builds on it (no registry needed)."""
    toml = TOML
    assert project.load(toml).images["relay"].args["BASE"] == "python:3.11-slim-bookworm"
    project.write(".devstack/base-image", "devstack/base:bookworm\n")
    assert project.load(toml).images["relay"].args["BASE"] == "devstack/base:bookworm"


def test_a_stack_in_a_subfolder_uses_the_checkouts_record(project: Project) -> None:
    """stacks/mailman/devstack.toml and its siblings use the base image `make` recorded at the checkout's top."""
    project.write(".devstack/base-image", "devstack/base:bookworm\n")
    project.write("stacks/x/relay/Dockerfile", "FROM scratch\n")
    project.write("stacks/x/stack.yml", "services: {}\n")
    config = loader.load(project.write("stacks/x/devstack.toml", TOML), environ={})
    assert config.images["relay"].args["BASE"] == "devstack/base:bookworm"


def test_every_other_source_overrides_the_record(project: Project) -> None:
    project.write(".devstack/base-image", "devstack/base:bookworm\n")
    toml = TOML
    assert project.load(toml, environ={"DEVSTACK_BASE_IMAGE": "mine:1"}).images["relay"].args["BASE"] == "mine:1"
    project.write(".env", "DEVSTACK_BASE_IMAGE=dotenv:1\n")
    assert project.load(toml).images["relay"].args["BASE"] == "dotenv:1"
