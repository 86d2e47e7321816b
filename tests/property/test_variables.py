"""The variables grammar (`${VAR}` and compose's operators) and .env files: any text interpolates, or is refused
with the file, line and key; a .env file loads or is refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.config import loader, variables
from devstack.errors import InterpolationError
from tests.property import generated
from tests.property.outcome import bounded, loads_or_refused

NAMES = st.sampled_from(["A", "B", "EMPTY", "secret:x", "_1"])
VALUES = st.dictionaries(NAMES, generated.TEXT, max_size=4)


@given(text=generated.SYNTAX_TEXT, values=VALUES)
def test_any_text_interpolates_or_is_refused(text: str, values: dict[str, str]) -> None:
    try:
        with bounded():
            assert isinstance(variables.interpolate(text, values), str)
    except InterpolationError:
        pass  # the caller adds the file, line and key: below


@given(text=generated.SYNTAX_TEXT, values=VALUES)
def test_in_a_document_the_refusal_names_file_line_and_key(text: str, values: dict[str, str]) -> None:
    source = f"[x]\nkey = {text!r}\n"
    loads_or_refused(lambda: variables.interpolate_tree({"x": {"key": text}}, values, "stack.yml", source=source),
                     "stack.yml")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dotenv")
    (root / "devstack.toml").write_text('[project]\nname = "envtest"\nprovider = "swarm"\n[variables]\nA = "1"\n'
                                        '[[forwards]]\nresource = "x"\nlocal = "${A}"\nremote = 1\n')
    return root


@given(dotenv=st.one_of(generated.SYNTAX_TEXT, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_a_dotenv_file_loads_or_is_refused_with_its_line(project: Path, dotenv: str) -> None:
    (project / ".env").write_text(dotenv, encoding="utf-8")
    outcome = loads_or_refused(lambda: loader.load(project / "devstack.toml", environ={}), "")
    assert not isinstance(outcome, Exception) or ".env" in str(outcome) or "devstack.toml" in str(outcome)
