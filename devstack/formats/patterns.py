"""One `.dockerignore` pattern, checked and matched exactly as moby/patternmatcher does it.

- Syntax is checked as Go's filepath.Match checks it on the name `.` (patternmatcher calls it for that alone; see
  gomatch.py for how far it reads): a trailing `\\`, an unclosed `[`, and a class that is empty or has a range
  with a missing end (`[]`, `[-]`, `[x-]`, `[-x]`, `[a-b-c]`) are errors.
- Matching follows patternmatcher's compile step: a pattern without wildcards is compared as a string, `dir/**`
  is a prefix, a leading `**x` a suffix; anything else becomes a Go regular expression, character by character
  as patternmatcher writes it, which goregex.py reads as Go does (so `[[:alpha:]]` is a letter there, `\\d` an
  ASCII digit, and a reversed range `[z-a]` or an unknown class `[[:foo:]]` is an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from devstack.errors import PatternError
from devstack.formats import gomatch, goregex


class Kind(Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEX = "regex"


# The regex specials patternmatcher escapes. Its table names `.+()|{}$`, but as a byte-wide bitmap indexed by
# `1 << (c / 8)` it keeps only the characters below 64: `{`, `}` and `|` reach Go's regexp as they are (an
# alternation, a repetition), which is what Docker matches with.
_ESCAPED = set(".+()$")


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading `!`
    exclude: bool  # False for a `!` exception

    def check(self) -> None:
        """Refuse what Docker refuses, now rather than at the first path."""
        try:
            gomatch.check(self.text)
        except PatternError as err:
            raise PatternError(f"syntax error in pattern {self.text!r} ({err})") from None
        _ = self.compiled

    @cached_property
    def compiled(self) -> tuple[Kind, re.Pattern[str] | None]:
        kind, regex = _compile(self.text)
        if kind is not Kind.REGEX:
            return kind, None
        try:
            return kind, goregex.compile(regex)
        except PatternError as err:
            raise PatternError(f"syntax error in pattern {self.text!r} ({err})") from None

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
    """patternmatcher's compile(): the match kind, and the Go regular expression for Kind.REGEX."""
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
                out.append("\\")  # escapes the closing `$` (unreachable: the syntax check refuses a trailing `\`)
        else:
            out.append(char)
            kind = Kind.REGEX if char in "[]" else kind
        first = False
    return kind, "".join(out) + "$"
