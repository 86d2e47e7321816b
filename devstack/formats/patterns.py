"""One `.dockerignore` pattern, checked and matched exactly as moby/patternmatcher does it.

- Syntax is checked as Go's filepath.Match checks it (patternmatcher calls it for that alone): a trailing `\\`,
  an unclosed `[`, and a class that is empty or has a range with a missing end (`[]`, `[-]`, `[x-]`, `[-x]`,
  `[a-b-c]`) are errors.
- Matching follows patternmatcher's compile step: a pattern without wildcards is compared as a string, `dir/**`
  is a prefix, a leading `**x` a suffix; anything else becomes a regular expression, character by character as
  patternmatcher writes it (so `\\d` is a digit there too, and a reversed range `[z-a]` is an error).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from devstack.errors import PatternError


class Kind(Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEX = "regex"


_ESCAPED = set(".+()|{}$")  # regex specials that mean nothing to filepath.Match


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading `!`
    exclude: bool  # False for a `!` exception

    def check(self) -> None:
        """Refuse what Docker refuses, now rather than at the first path."""
        _check_syntax(self.text)
        _ = self.compiled

    @cached_property
    def compiled(self) -> tuple[Kind, re.Pattern[str] | None]:
        kind, regex = _compile(self.text)
        if kind is not Kind.REGEX:
            return kind, None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # `[[` is a literal `[` in Go's syntax too
                return kind, re.compile(regex)
        except re.error as err:
            raise PatternError(f"syntax error in pattern {self.text!r} ({err.msg})") from None

    def matches(self, path: str) -> bool:
        kind, regex = self.compiled
        if kind is Kind.EXACT:
            return path == self.text
        if kind is Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if kind is Kind.SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert regex is not None
        return regex.search(path) is not None

    def without_trailing_glob(self) -> str:
        """The pattern less a trailing `/**` or `/*`: what BuildKit compares folder names with."""
        return self.text.removesuffix("/**").removesuffix("/*")


def _compile(pattern: str) -> tuple[Kind, str]:
    """patternmatcher's compile(): the match kind, and the regular expression for Kind.REGEX."""
    out, kind, i, first = ["^"], Kind.EXACT, 0, True
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*" and pattern.startswith("*", i):
            i += 1
            i += pattern.startswith("/", i)  # `**/` is the same as `**`
            if i >= len(pattern):
                kind = Kind.PREFIX if kind is Kind.EXACT else Kind.REGEX
                out.append(".*" if kind is Kind.REGEX else "")
            else:
                out.append("(.*/)?")
                kind = Kind.REGEX
            kind = Kind.SUFFIX if first else kind
        elif char in "*?":
            out.append("[^/]*" if char == "*" else "[^/]")
            kind = Kind.REGEX
        elif char in _ESCAPED:
            out.append("\\" + char)
        elif char == "\\":
            if i < len(pattern):
                out.append("\\" + pattern[i])
                i += 1
                kind = Kind.REGEX
            else:
                out.append("\\\\")
        else:
            out.append(char)
            kind = Kind.REGEX if char in "[]" else kind
        first = False
    return kind, "".join(out) + r"\Z"


def _check_syntax(pattern: str) -> None:
    """Go's filepath.Match errors (ErrBadPattern), which Docker reports as `syntax error in pattern`."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 >= len(pattern):
                raise _bad(pattern, "a trailing '\\' escapes nothing")
            i += 2
        elif pattern[i] == "[":
            i = _class_end(pattern, i + 1)
        else:
            i += 1


def _class_end(pattern: str, i: int) -> int:
    """The index after the `]` closing the class that starts at i, read as Go's matchChunk reads it."""
    i += pattern.startswith("^", i)
    ranges = 0
    while True:
        if pattern.startswith("]", i) and ranges:
            return i + 1
        i = _class_char(pattern, i)
        if pattern.startswith("-", i):
            i = _class_char(pattern, i + 1)
        ranges += 1


def _class_char(pattern: str, i: int) -> int:
    """Go's getEsc: one (possibly escaped) character of a class, which must be followed by more."""
    if i >= len(pattern) or pattern[i] in "-]":
        reason = "no ']' closes the '['" if i >= len(pattern) else f"'{pattern[i]}' cannot stand there in a [class]"
        raise _bad(pattern, reason)
    i += 1 + (pattern[i] == "\\")  # the character, and the `\` before it
    if i >= len(pattern):
        raise _bad(pattern, "no ']' closes the '['")
    return i


def _bad(pattern: str, reason: str) -> PatternError:
    return PatternError(f"syntax error in pattern {pattern!r} ({reason})")
