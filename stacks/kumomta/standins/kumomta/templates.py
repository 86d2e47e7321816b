"""The part of MiniJinja (kumod's template engine) that the kumod stand-in applies to injected messages:
`{{ name }}` and attribute lookups (`{{ user.city }}`, `{{ user["city"] }}`), `{{-`/`-}}` trimming and
`{# comments #}`. As MiniJinja does by default: an undefined name renders empty, a lookup on an undefined value
is an error, numbers and booleans render as MiniJinja prints them, and a template named `*.html` escapes what it
inserts. Blocks (`{% if %}`, `{% for %}`), filters and expressions are not supported: a template using them is
refused as a syntax error, where kumod would render it (a documented difference of the stand-in).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

UNDEFINED = object()
PATH = re.compile(r"""\s*([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*(?:"[^"]*"|'[^']*'|\d+)\s*\])*)\s*$""")
STEP = re.compile(r"""\.\s*([A-Za-z_]\w*)|\[\s*(?:"([^"]*)"|'([^']*)'|(\d+))\s*\]""")
HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "/": "&#x2f;"}


class TemplateError(Exception):
    """A template that does not parse (raised when it is added) or does not render (for one recipient)."""


@dataclass(frozen=True)
class Lookup:
    name: str
    steps: tuple[str | int, ...]
    line: int


Piece = str | Lookup


@dataclass(frozen=True)
class Template:
    name: str
    pieces: tuple[Piece, ...]

    def render(self, values: dict[str, Any]) -> str:
        escape = self.name.endswith(".html")
        out = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            value = resolve(piece, values, self.name)
            text = "" if value is UNDEFINED else display(value)
            out.append(html_escape(text) if escape and isinstance(value, str | int | float) else text)
        return "".join(out)


def compile_template(name: str, source: str) -> Template:
    pieces: list[Piece] = []
    position = 0
    trim_next = False
    for match in re.finditer(r"\{\{|\{%|\{#", source):
        if match.start() < position:
            continue
        text = source[position:match.start()]
        opener = match.group()
        trim_before = source.startswith("-", match.end())
        closer = {"{{": "}}", "{%": "%}", "{#": "#}"}[opener]
        end = source.find(closer, match.end())
        line = source.count("\n", 0, match.start()) + 1
        if end < 0:
            kind = {"{{": "variable block", "{%": "block", "{#": "comment"}[opener]
            raise TemplateError(f"syntax error: unexpected end of input, expected end of {kind} (in {name}:{line})")
        pieces.append(trimmed(text, trim_next, trim_before))
        inner = source[match.end() + (1 if trim_before else 0):end]
        trim_next = inner.endswith("-")
        inner = inner.removesuffix("-")
        if opener == "{%":
            raise TemplateError(f"syntax error: blocks are not supported by the kumod stand-in (in {name}:{line})")
        if opener == "{{":
            pieces.append(parse_lookup(inner, name, line))
        position = end + 2
    pieces.append(trimmed(source[position:], trim_next, False))
    return Template(name, tuple(piece for piece in pieces if piece != ""))


def trimmed(text: str, left: bool, right: bool) -> str:
    text = text.lstrip() if left else text
    return text.rstrip() if right else text


def parse_lookup(expression: str, name: str, line: int) -> Lookup:
    if not expression.strip():
        raise TemplateError(f"syntax error: unexpected end of variable block, expected expression (in {name}:{line})")
    match = PATH.match(expression)
    if match is None:
        raise TemplateError(f"syntax error: only names and attribute lookups are supported by the kumod stand-in "
                            f"(in {name}:{line})")
    steps = tuple(s[0] or s[1] or s[2] or int(s[3]) for s in STEP.findall(match.group(2)))
    return Lookup(match.group(1), steps, line)


def resolve(lookup: Lookup, values: dict[str, Any], name: str) -> Any:
    value: Any = values.get(lookup.name, UNDEFINED)
    for step in lookup.steps:
        if value is UNDEFINED:
            raise TemplateError(f"undefined value (in {name}:{lookup.line})")
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step, UNDEFINED)
        elif isinstance(value, list) and isinstance(step, int):
            value = value[step] if step < len(value) else UNDEFINED
        else:
            value = UNDEFINED
    return value


def display(value: Any) -> str:
    """A value as MiniJinja prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str | int):
        return str(value)
    return json.dumps(value, separators=(", ", ": "))


def html_escape(text: str) -> str:
    return "".join(HTML_ESCAPES.get(char, char) for char in text)
