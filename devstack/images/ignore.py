"""`.dockerignore` semantics (the moby patternmatcher rules), so devstack hashes exactly what Docker would send.

- Patterns use Go's filepath.Match syntax plus `**`; they are cleaned and a leading `/` is dropped.
- A pattern matches a path or any of its parent folders (`node_modules` excludes everything below it).
- `!pattern` re-includes; the last pattern that matches decides.
- A pattern Docker refuses (`syntax error in pattern`) is refused here too, when devstack.toml is loaded.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from devstack.errors import ConfigError


class PatternError(ValueError):
    """A malformed pattern, such as an unclosed `[`."""


@dataclass(frozen=True)
class Pattern:
    text: str
    exclude: bool  # False for a `!` exception

    @cached_property
    def regex(self) -> re.Pattern[str]:
        try:
            return re.compile(_translate(self.text))
        except re.error as err:
            raise PatternError(f"syntax error in pattern {self.text!r} ({err.msg})") from None

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
        if not line or raw.startswith("#"):  # as in Docker, only a `#` in the first column starts a comment
            continue
        exclude = not line.startswith("!")
        text = line if exclude else line[1:].strip()
        text = posixpath.normpath(text).lstrip("/")
        if text and text != ".":
            patterns.append(Pattern(text, exclude))
            _ = patterns[-1].regex  # compiled now, so a malformed pattern is reported before any scan
    return patterns


def read(context: Path) -> list[Pattern]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    try:
        # utf-8-sig: a leading BOM is dropped, as Docker does.
        return parse(path.read_text(encoding="utf-8-sig").splitlines())
    except (PatternError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), "", str(err)) from None


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
            i += pattern.startswith("/", i)  # `**/` is the same as `**`: zero or more whole folders
            rest = pattern[i:]
            # moby matches any text instead for a trailing `**` (a prefix match) and for a leading `**x` with no
            # wildcard after it (a suffix match): `**.txt` matches `a.txt`, but `a**b` does not match `axb`.
            suffix = i == 2 and not any(c in rest for c in "*?[]\\")
            out.append(".*" if not rest or suffix else "(?:.*/)?")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = _class_end(pattern, i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """The index of the `]` that closes a character class; an escaped `\\]` does not close it."""
    i = start
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    if i >= len(pattern):
        raise PatternError(f"syntax error in pattern {pattern!r} (no ']' closes the '[')")
    return i
