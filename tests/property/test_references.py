"""Image references (a config's `ref`, a stack file's or manifest's `image:`): any text parses by Docker's grammar
or is refused; the helpers that match references never fail on text that is none."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from devstack.errors import InvalidReference
from devstack.formats import reference
from tests.property import generated
from tests.property.outcome import bounded

PIECES = st.sampled_from(["a", "b", "-", "_", "__", ".", "/", ":", "@", "sha256:", "0" * 64, "localhost", "5000",
                          "[::1]", "docker.io", "library", "A", "é", "::", "//"])
REFERENCES = st.one_of(st.lists(PIECES, max_size=10).map("".join), generated.TEXT)


@given(text=REFERENCES, refs=st.dictionaries(REFERENCES, REFERENCES, max_size=3))
def test_any_text_is_a_reference_or_refused(text: str, refs: dict[str, str]) -> None:
    with bounded():
        # Refused: a config error with the key, where a config holds it (tests/unit/test_reference.py).
        with contextlib.suppress(InvalidReference):
            assert str(reference.parse(text))
        assert isinstance(reference.repository(text), str) and isinstance(reference.full(text), str)
        assert reference.lookup(text, refs) is None or reference.lookup(text, refs) in refs.values()
