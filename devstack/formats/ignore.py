"""`.dockerignore` as Docker reads and applies it, so devstack hashes exactly what Docker would send.

Reading follows moby/patternmatcher's ignorefile.ReadAll:
- lines end at `\\n` (a `\\r` before it is dropped; a lone `\\r` is part of the line); a leading BOM is dropped;
- a `#` in the first column starts a comment; blanks around a pattern are trimmed;
- a pattern is cleaned (Go's filepath.Clean) and a leading `/` dropped; `!pattern` re-includes; then, as
  patternmatcher.New does, the result is trimmed and cleaned once more before its `!` is looked for.
Every pattern Docker refuses (a lone `!`, the bad patterns of patterns.py, a line over 64 KiB) is refused here,
naming the file and line, when devstack.toml is loaded.

Applying follows BuildKit's context walk (tonistiigi/fsutil): each pattern remembers whether a parent folder
matched it, the last pattern that matches decides, and the folders of a re-included file are sent too.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import ConfigError, PatternError
from devstack.formats.patterns import Pattern

__all__ = ["Matcher", "Pattern", "PatternError", "parse", "read"]

_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"  # Go's unicode.IsSpace, which strings.TrimSpace uses
_MAX_LINE = 64 * 1024  # bufio.Scanner's limit: Docker fails on a longer line ("token too long")


def parse(lines: Iterable[str]) -> list[Pattern]:
    """Patterns from lines; a PatternError carries the 1-based number of the line at fault."""
    patterns = []
    for number, raw in enumerate(lines, 1):
        try:
            pattern = _pattern(raw)
            if pattern is not None:
                pattern.check()
                patterns.append(pattern)
        except PatternError as err:
            raise PatternError(str(err), number) from None
    return patterns


def _pattern(raw: str) -> Pattern | None:
    if raw.startswith("#"):  # as in Docker, only a `#` in the first column starts a comment
        return None
    line = raw.strip(_GO_SPACE)
    if not line:
        return None
    # patternmatcher.New trims and cleans again what ignorefile.ReadAll made, and only then looks for the `!`:
    # `!/` is a lone `!` there, and `x/../ !y` an exception.
    text = _go_clean(_read_all(line).strip(_GO_SPACE))
    if text == ".":  # nothing left after trimming (New skips it), or a pattern that never matches
        return None
    exclude = not text.startswith("!")
    if not exclude:
        text = text[1:]
        if not text:
            raise PatternError('illegal exclusion pattern: "!"')
    # `.` and `/` never match a path inside the context: Docker keeps them, to no effect.
    return None if text in (".", "/") else Pattern(text, exclude)


def _read_all(line: str) -> str:
    """ignorefile.ReadAll's pattern for a trimmed line: cleaned, one leading `/` dropped, the `!` put back."""
    invert = line.startswith("!")
    text = line[1:].strip(_GO_SPACE) if invert else line
    if text:
        text = _go_clean(text)
        text = text[1:] if len(text) > 1 and text.startswith("/") else text
    return "!" + text if invert else text


def _go_clean(path: str) -> str:
    """Go's filepath.Clean: normpath, but at most one leading `/` (POSIX lets normpath keep two)."""
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def lines(data: bytes) -> list[str]:
    """The lines of a .dockerignore as Go's bufio.Scanner splits them."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    rows = data.split(b"\n")
    if rows and rows[-1] == b"":
        rows.pop()
    for number, row in enumerate(rows, 1):
        if len(row) >= _MAX_LINE:
            raise PatternError(f"line longer than {_MAX_LINE} bytes (Docker stops there: token too long)", number)
    return [_decoded(row.removesuffix(b"\r"), number) for number, row in enumerate(rows, 1)]


def _decoded(row: bytes, number: int) -> str:
    try:
        return row.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PatternError(f"not UTF-8: byte {row[err.start]:#04x} at column {err.start + 1}", number) from None


def read(context: Path) -> list[Pattern]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    try:
        return parse(lines(path.read_bytes()))
    except PatternError as err:
        raise ConfigError(f"{path}:{err.line}", "", str(err)) from None
    except OSError as err:
        raise ConfigError(str(path), "", f"cannot read: {err.strerror}") from None


@dataclass(frozen=True)
class Match:
    """Whether a path is excluded, and which patterns it (or a parent folder) matched, for its children."""
    excluded: bool
    matched: tuple[bool, ...] = ()


class Matcher:
    """The patterns of one context, applied as BuildKit's walk applies them (patternmatcher's
    MatchesUsingParentResults, and fsutil's rule for which excluded folders are still walked)."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns = tuple(patterns)
        exceptions = [p for p in self.patterns if not p.exclude]
        self._exception_prefixes = tuple(p.without_trailing_glob() + "/" for p in exceptions)
        # Only exceptions without wildcards (before a trailing /** or /*) let an excluded folder be skipped.
        self._prefix_only = not any(c in p for p in self._exception_prefixes for c in "*[]?^\\")

    def match(self, path: str, parent: Match | None = None) -> Match:
        """`path` relative to the context; `parent` is the Match of its folder (None at the top)."""
        excluded = False
        matched = []
        for i, pattern in enumerate(self.patterns):
            hit = bool(parent and parent.matched and parent.matched[i])  # a parent folder matched it
            if not hit:
                if pattern.exclude == excluded:  # it could not change the outcome: not even tried
                    matched.append(False)
                    continue
                hit = pattern.matches(path) or (parent is None and _a_parent_matches(pattern, path))
            matched.append(hit)
            excluded = pattern.exclude if hit else excluded
        return Match(excluded, tuple(matched))

    def walks_into(self, folder: str) -> bool:
        """Whether an excluded folder is still walked, because an exception may re-include something inside."""
        if not self._prefix_only:
            return True
        return any(prefix.startswith(folder + "/") for prefix in self._exception_prefixes)

    def excluded(self, path: str) -> bool:
        """Whether Docker leaves `path` out of the context (the dev loop asks this of a changed file)."""
        parts = path.split("/")
        state: Match | None = None
        for depth in range(1, len(parts) + 1):
            state = self.match("/".join(parts[:depth]), state)
            if state.excluded and depth < len(parts) and not self.walks_into("/".join(parts[:depth])):
                return True
        return bool(state and state.excluded)


def _a_parent_matches(pattern: Pattern, path: str) -> bool:
    parts = path.split("/")
    return any(pattern.matches("/".join(parts[:i])) for i in range(1, len(parts)))
