"""The sink's fault rules, from `--fault`, SINK_FAULTS or the HTTP API's JSON: any text or JSON gives rules that
the sink can apply, or is refused naming the flag (the sink exits 2) or with a 400; never a crash."""

from __future__ import annotations

from typing import Any

from devstack_sink import cli, faults
from hypothesis import given
from hypothesis import strategies as st

from tests.property import generated
from tests.property.outcome import bounded

PIECES = st.sampled_from(["*", "@", "rcpt:", "mail:", "data:", "550", "421", "451", "250", "drop", "delay=", "p=",
                          "text=", ",", ";", "\n", ":", "0.5", "1e9", "nan", "inf", "-1", "[", "]", "?", "é"])
RULES = st.one_of(st.lists(PIECES, max_size=12).map("".join), generated.TEXT)
JSON: Any = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | RULES,
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                             st.sampled_from([*sorted(faults.JSON_KEYS), "rules", "x"]), inner, max_size=5),
                         max_leaves=10)
ADDRESSES = ["a@b.test", "", "@", "É@x"]


def _apply(rules: list[faults.Rule]) -> None:
    book = faults.FaultBook(rules)
    for stage in faults.STAGES:
        assert book.pick(stage, ADDRESSES) in (None, *rules)


@given(text=RULES)
def test_flag_text_gives_rules_or_names_the_flag(text: str) -> None:
    with bounded():
        try:
            options = cli.parse_options(["--fault", text], {})
        except cli.OptionError as err:
            assert "--fault" in str(err)  # "--fault: …", or argparse's "argument --fault: …" for a value like -1
            return
        _apply(list(options.rules))


@given(document=JSON)
def test_json_gives_rules_or_is_refused(document: object) -> None:
    with bounded():
        try:
            rules = faults.rules_from_json(document)
        except faults.RuleError:
            return
        _apply(rules)
