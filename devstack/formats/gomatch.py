"""Go's filepath.Match on the name `.`: the syntax check Docker applies to a `.dockerignore` pattern.

patternmatcher calls Match(pattern, ".") for its error alone. Match reads the pattern one chunk at a time (a chunk
runs up to the next `*` outside a class), checks every chunk it reads to its end, and stops at the first chunk that
cannot match: the chunks after that one are never read. So `**b\\` is refused (a trailing `\\`) but `(**b\\` is
not (its `(` cannot match `.`), and Docker then matches with the regular expression made of it; `a*[` passes here
too, and fails when that expression is compiled (goregex.py).
"""

from __future__ import annotations

from devstack.errors import PatternError

NAME = "."


def check(pattern: str) -> None:
    """Raise PatternError, with the reason, where Go's Match(pattern, ".") returns ErrBadPattern."""
    name, rest = NAME, pattern
    while rest:
        star, chunk, rest = _scan_chunk(rest)
        if star and not chunk:
            return  # a trailing `*` matches what is left
        left = _match_chunk(chunk, name)
        if left is not None and (not left or rest):
            name = left
            continue
        skipped = _skip_and_match(chunk, name, last=not rest) if star else None
        if skipped is None:
            return  # no match, and the rest of the pattern is not read
        name = skipped


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Leading stars, then the chunk up to the next `*` outside a class, then the rest."""
    star = pattern.startswith("*")
    pattern = pattern.lstrip("*")
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1  # the escaped character, if any (a trailing `\` is an error of _match_chunk)
        elif char in "[]":
            in_class = char == "["
        elif char == "*" and not in_class:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _skip_and_match(chunk: str, name: str, last: bool) -> str | None:
    """The star before `chunk` skips one character of `name`, then two, … (never a `/`)."""
    for i, char in enumerate(name):
        if char == "/":
            break
        left = _match_chunk(chunk, name[i + 1:])
        if left is not None and not (last and left):
            return left
    return None


def _match_chunk(chunk: str, name: str) -> str | None:
    """What is left of `name` after `chunk` matched its start, or None; the whole chunk is checked either way."""
    failed, i = False, 0
    while i < len(chunk):
        failed = failed or not name
        if chunk[i] == "[":
            char, name = (None, name) if failed else (name[0], name[1:])
            hit, i = _class(chunk, i + 1, char)
            failed = failed or not hit
            continue
        if chunk[i] == "\\":
            i += 1
            if i >= len(chunk):
                raise PatternError("a trailing '\\' escapes nothing")
        elif chunk[i] == "?":
            failed = failed or name[0] == "/"
            name, i = (name if failed else name[1:]), i + 1
            continue
        failed = failed or chunk[i] != name[0]
        name, i = (name if failed else name[1:]), i + 1
    return None if failed else name


def _class(chunk: str, i: int, char: str | None) -> tuple[bool, int]:
    """Whether `char` is in the class whose body starts at i, and the index after its `]`."""
    negated = chunk.startswith("^", i)
    i += negated
    hit, ranges = False, 0
    while not (chunk.startswith("]", i) and ranges):
        low, i = _class_char(chunk, i)
        high = low
        if chunk[i] == "-":
            high, i = _class_char(chunk, i + 1)
        hit = hit or (char is not None and low <= char <= high)
        ranges += 1
    return hit != negated, i + 1


def _class_char(chunk: str, i: int) -> tuple[str, int]:
    """Go's getEsc: one (possibly escaped) character of a class, which must be followed by more."""
    if i >= len(chunk):
        raise PatternError("no ']' closes the '['")
    if chunk[i] in "-]":
        raise PatternError(f"'{chunk[i]}' cannot stand there in a [class]")
    i += chunk[i] == "\\"  # the `\` before an escaped character
    if i + 1 >= len(chunk):
        raise PatternError("no ']' closes the '['")
    return chunk[i], i + 1
