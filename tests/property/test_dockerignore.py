""".dockerignore files: any bytes are read as Docker reads them, or refused with the file and line; the patterns
that load then answer for any path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.formats import ignore
from tests.property import generated
from tests.property.outcome import bounded, loads_or_refused

PATTERN_PIECES = st.sampled_from(["*", "**", "?", "[", "]", "^", "-", "!", "\\", "/", ".", "..", "[:alpha:]",
                                  "[:^digit:]", "{2}", "|", "a", "b", "\\d", "\\Q", "#", " ", "\t", "\r", "é"])
LINES = st.lists(st.one_of(st.lists(PATTERN_PIECES, max_size=10).map("".join), generated.TEXT), max_size=6)
FILES = st.one_of(LINES.map(lambda lines: "\n".join(lines).encode()), st.binary(max_size=300))
# Paths stay short: a pathological pattern backtracks in Python's regexp engine (docs/limits.md).
PATHS = st.lists(st.text(st.sampled_from("ab.é[]{}|-*x"), min_size=1, max_size=4), min_size=1, max_size=3).map("/".join)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("context")


@given(data=FILES, paths=st.lists(PATHS, max_size=5))
def test_any_file_loads_or_is_refused_with_its_line(context: Path, data: bytes, paths: list[str]) -> None:
    (context / ".dockerignore").write_bytes(data)
    patterns = loads_or_refused(lambda: ignore.read(context), ".dockerignore")
    if isinstance(patterns, list):
        matcher = ignore.Matcher(patterns)
        with bounded():
            for path in paths:
                assert isinstance(matcher.excluded(path), bool)
