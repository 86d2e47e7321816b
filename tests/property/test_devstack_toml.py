"""devstack.toml: each shipped config, mutated (wrong types, unknown, missing and misspelt keys, deep nesting,
huge strings, odd Unicode, devstack's own syntax in values) or cut and spliced as text."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.config import loader
from tests.property import generated
from tests.property.outcome import loads_or_refused

REPO = Path(__file__).resolve().parents[2]
CONFIGS = ["devstack.toml", "stacks/demo/k8s/devstack.toml", "stacks/kumomta/devstack.toml",
           "stacks/mailman/devstack.toml", "stacks/mailu/devstack.toml"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's configs and everything they name."""
    root = tmp_path_factory.mktemp("configs")
    shutil.copy(REPO / "devstack.toml", root)
    for folder in ("stacks", "sink"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return root


@pytest.mark.parametrize("config", CONFIGS)
def test_each_shipped_config_loads(project: Path, config: str) -> None:
    assert loader.load(project / config, environ={}).project


@pytest.mark.parametrize("config", CONFIGS)
@given(data=st.data())
def test_mutated_configs_load_or_are_refused_with_the_key(project: Path, config: str, data: st.DataObject) -> None:
    path = project / config
    original = (REPO / config).read_text()
    document = tomllib.loads(original)
    for _ in range(data.draw(st.integers(1, 3))):
        generated.mutate(data, document)
    path.write_text(generated.toml(document), encoding="utf-8")
    try:
        loads_or_refused(lambda: loader.load(path, environ={}), "devstack.toml")
    finally:
        path.write_text(original)


@pytest.mark.parametrize("config", CONFIGS)
@given(cut=st.integers(0, 10_000), length=st.integers(0, 200), insert=st.one_of(generated.SYNTAX_TEXT,
                                                                                  generated.TEXT))
def test_spliced_text_loads_or_is_refused(project: Path, config: str, cut: int, length: int, insert: str) -> None:
    path = project / config
    original = (REPO / config).read_text()
    cut %= len(original) + 1
    path.write_text(original[:cut] + insert + original[cut + length:], encoding="utf-8")
    try:
        loads_or_refused(lambda: loader.load(path, environ={}), "devstack.toml")
    finally:
        path.write_text(original)


JSON_TEXT = st.one_of(generated.SYNTAX_TEXT, st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
                      st.integers(1, 5_000).map(lambda depth: '{"recipients": ' + "[" * depth + "]" * depth + "}"),
                      st.just('{"recipients": []}'), st.just('{"recipients": [{"email": 5}]}'))


@given(payload=JSON_TEXT)
def test_smoke_payload_files_load_or_are_refused_with_the_key(project: Path, payload: str) -> None:
    path = project / "stacks/demo/smoke/inject.json"
    original = (REPO / "stacks/demo/smoke/inject.json").read_text()
    path.write_text(payload, encoding="utf-8")
    try:
        loads_or_refused(lambda: loader.load(project / "devstack.toml", environ={}), "devstack.toml")
    finally:
        path.write_text(original)
