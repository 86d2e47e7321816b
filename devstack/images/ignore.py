"""`.dockerignore` semantics (the moby patternmatcher rules), so devstack hashes exactly what Docker would send.

- Patterns use Go's filepath.Match syntax plus `**`; they are cleaned and a leading `/` is dropped.
- A pattern matches a path or any of its parent folders (`node_modules` excludes everything below it).
- `!pattern` re-includes; the last pattern that matches decides.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    text: str
    exclude: bool  # False for a `!` exception

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(_translate(self.text))

    def matches(self, path: str) -> bool:
        """True when `path` or one of its parent folders matches."""
        if self.regex.fullmatch(path):
            return True
        parts = path.split("/")
        return any(self.regex.fullmatch("/".join(parts[:i])) for i in range(1, len(parts)))


def parse(lines: Iterable[str]) -> list[Pattern]:
    patterns = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        text = line if exclude else line[1:].strip()
        text = posixpath.normpath(text).lstrip("/")
        if text and text != ".":
            patterns.append(Pattern(text, exclude))
    return patterns


def read(context: Path) -> list[Pattern]:
    path = context / ".dockerignore"
    return parse(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else []


def excluded(path: str, patterns: list[Pattern]) -> bool:
    result = False
    for pattern in patterns:
        if pattern.exclude != result and pattern.matches(path):
            result = pattern.exclude
    return result


def _translate(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # `**/` is zero or more whole folders
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
