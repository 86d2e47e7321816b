"""Strategies for generated input, and a TOML writer for mutated configs (every table inline, so any shape can be
written)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

# Odd Unicode: controls, zero-width and direction marks, combining marks, astral characters; no lone surrogates,
# which no UTF-8 file can hold.
ODD = st.characters(blacklist_categories=("Cs",))
TEXT = st.text(ODD, max_size=40)
# Pieces of devstack's own syntax, so that mutations reach the interpolation grammar and the key paths.
SYNTAX = st.sampled_from(["${", "}", "$", "$$", "${A}", "${A:-", "${A:-x}", "${A?}", "${secret:", "${secret:x}",
                          ":-", ":+", ":?", "{", "[", "]", "*", "!", "\\", "\n", "#", "=", ".", "/", "..", " "])
SYNTAX_TEXT = st.lists(st.one_of(SYNTAX, TEXT), max_size=8).map("".join)
HUGE_TEXT = st.builds(lambda char, size: char * size, ODD, st.integers(1_000, 300_000))
STRINGS = st.one_of(TEXT, SYNTAX_TEXT, HUGE_TEXT)
SCALARS = st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.floats(), STRINGS)
KEYS = st.one_of(st.text(ODD, min_size=1, max_size=12), st.sampled_from(
    ["name", "context", "contxt", "provider", "port", "ref", "url", "type", "ignore", "args", "sync", "", " "]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=12)


@dataclass(frozen=True)
class Deep:
    """A value nested `depth` lists or tables deep, written out without recursion."""

    value: Any
    depth: int
    as_list: bool


DEEP = st.builds(Deep, SCALARS, st.integers(1, 3_000), st.booleans())


def toml(table: dict[str, Any]) -> str:
    return "".join(f"{_key(key)} = {_value(value)}\n" for key, value in table.items())


def _key(key: str) -> str:
    return _string(str(key))


def _value(value: Any) -> str:
    if isinstance(value, Deep):
        opening, closing = ("[", "]") if value.as_list else ('{"x" = ', "}")
        return opening * value.depth + _value(value.value) + closing * value.depth
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"


def _string(text: str) -> str:
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else "\\" + c if c in '"\\' else c
                      for c in text)
    return f'"{escaped}"'


def mutate(data: st.DataObject, node: Any) -> None:
    """One change somewhere in the parsed document."""
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        child = node[data.draw(st.sampled_from(keys))]
        if not isinstance(child, (dict, list)):
            break
        node = child
    if isinstance(node, list):
        node.append(data.draw(VALUES))
        return
    if not isinstance(node, dict):
        return
    change = data.draw(st.sampled_from(["replace", "add", "delete", "rename", "deep"]))
    key = data.draw(st.sampled_from(sorted(node, key=str))) if node else None
    if change == "add" or key is None:
        node[data.draw(KEYS)] = data.draw(VALUES)
    elif change == "replace":
        node[key] = data.draw(VALUES)
    elif change == "delete":
        del node[key]
    elif change == "rename":
        node[f"{key}{data.draw(st.sampled_from(['x', '_', 's', ' ']))}"] = node.pop(key)
    else:
        node[key] = data.draw(DEEP)


def yaml_text(document: Any) -> str:
    """The document as YAML; a Deep value is written in flow style, which needs no recursion to write."""
    deep: list[Deep] = []

    def placeholders(node: Any) -> Any:
        if isinstance(node, Deep):
            deep.append(node)
            return f"DEEP-{len(deep) - 1}"
        if isinstance(node, dict):
            return {key: placeholders(value) for key, value in node.items()}
        if isinstance(node, list):
            return [placeholders(value) for value in node]
        return node

    text = yaml.safe_dump(placeholders(document), allow_unicode=True, sort_keys=False)
    for number, value in enumerate(deep):
        opening, closing = ("[", "]") if value.as_list else ("{x: ", "}")
        text = text.replace(f"DEEP-{number}", opening * value.depth + "1" + closing * value.depth, 1)
    return text
