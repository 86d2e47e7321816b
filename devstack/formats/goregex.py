"""Go's regular expressions, as moby/patternmatcher hands them a compiled `.dockerignore` pattern, translated
into Python's: what Go's regexp matches the translation matches, and what Go's parser refuses is refused.

Docker checks a pattern's syntax with Go's filepath.Match but matches it with Go's regexp (RE2 syntax, Perl
flags), and the two dialects differ from Python's `re` where a pattern can reach them:
- POSIX classes inside a class, `[[:alpha:]]` and `[[:^digit:]]`, which Python reads as a set of characters;
- `\\d`, `\\s`, `\\w` are ASCII in Go (`\\s` without `\\v`), Unicode in Python;
- Go's escapes `\\x{41}`, `\\101` (octal), `\\Q…\\E` (literal text, up to the end if no `\\E`) and `\\z`; Go
  refuses an escaped letter or digit it does not know (`\\q`, `\\1`, `\\é`), which Python may take literally;
- with Go's one-line flag `$` is the very end of the text (Python's `\\Z`).

Classes are translated into explicit code point ranges, so a negation or a POSIX class inside a class means what
it means in Go. Unicode classes (`\\pL`, `\\p{Greek}`) are refused: their tables follow the Go release Docker was
built with (Go 1.25 added names such as `\\p{Letter}`), which devstack cannot know.
"""

from __future__ import annotations

import re

from devstack.errors import PatternError

MAX_RUNE = 0x10FFFF
Ranges = list[tuple[int, int]]

_DIGIT = [(0x30, 0x39)]
_WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_POSIX: dict[str, Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)], "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)], "blank": [(0x09, 0x09), (0x20, 0x20)], "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": _DIGIT, "graph": [(0x21, 0x7E)], "lower": [(0x61, 0x7A)], "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)], "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)], "word": _WORD, "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_PERL: dict[str, Ranges] = {"d": _DIGIT, "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)], "w": _WORD}
_C_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_ASSERTIONS = {"A": r"\A", "b": r"\b", "B": r"\B", "z": r"\Z"}  # \b and \B: ASCII words, compiled with re.ASCII
_OCTAL = "01234567"
# Outside a class, what patternmatcher leaves unescaped is Go's syntax: its own `.*`, `[^/]*`, `(.*/)?`, and
# the `^`, `{`, `}` and `|` of the pattern itself (its escape table misses them). `^` and `$` anchor the text.
_OPERATORS = {"^": ("assert", r"\A"), "$": ("assert", r"\Z"), ".": ("atom", "."), "*": ("repeat", "*"),
              "?": ("repeat", "?"), "+": ("repeat", "+"), "(": ("open", "("), ")": ("atom", ")"), "|": ("bar", "|")}
# Go's {n}, {n,} and {n,m}: numbers without leading zeros; anything else is a literal `{`.
_REPEAT = re.compile(r"\{(0|[1-9][0-9]*)(?:,([1-9][0-9]*|0)?)?\}")
_MAX_REPEAT = 1000


def compile(regex: str) -> re.Pattern[str]:
    """The Go expression as a Python one; PatternError (with Go's reason) where Go's parser stops."""
    return re.compile(translate(regex), re.ASCII)


def translate(regex: str) -> str:
    pieces: list[tuple[str, str]] = []  # (kind, Python text); kind: atom, assert, repeat, open or bar
    i = 0
    while i < len(regex):
        kind, text, i = _piece(regex, i)
        if kind == "repeat":
            _check_repeat(pieces, text)
            if pieces[-1][0] == "assert":  # Go repeats an assertion; Python repeats only a group holding one
                pieces[-1] = ("atom", f"(?:{pieces[-1][1]})")
        pieces.append((kind, text))
    return "".join(text for _, text in pieces)


def _piece(regex: str, i: int) -> tuple[str, str, int]:
    char = regex[i]
    if char == "\\":
        return _escape(regex, i)
    if char == "[":
        ranges, end = _class(regex, i)
        return "atom", _class_text(ranges), end
    if char == "{":
        repeat = _REPEAT.match(regex, i)
        if repeat is None:  # not a repetition: a literal `{`
            return "atom", re.escape(char), i + 1
        return "repeat", _repeat_text(repeat), repeat.end()
    return (*_OPERATORS.get(char, ("atom", re.escape(char))), i + 1)


def _repeat_text(repeat: re.Match[str]) -> str:
    low, high = repeat.group(1), repeat.group(2)
    if int(low) > _MAX_REPEAT or (high and (int(high) > _MAX_REPEAT or int(low) > int(high))):
        raise PatternError(f"invalid repeat count {repeat.group(0)}")
    return repeat.group(0)  # the same syntax in Python: {n}, {n,} and {n,m}


def _check_repeat(pieces: list[tuple[str, str]], text: str) -> None:
    if pieces and pieces[-1][0] == "repeat":
        raise PatternError(f"invalid nested repetition operator {pieces[-1][1]}{text}")
    if not pieces or pieces[-1][0] in ("open", "bar"):
        raise PatternError(f"missing argument to repetition operator {text}")


def _escape(regex: str, i: int) -> tuple[str, str, int]:
    """A backslash outside a class: an assertion, literal text, a class, or one character."""
    name = regex[i + 1:i + 2]
    if name in _ASSERTIONS:
        return "assert", _ASSERTIONS[name], i + 2
    if name == "Q":
        end = regex.find("\\E", i + 2)
        text = regex[i + 2:] if end < 0 else regex[i + 2:end]
        return "atom", re.escape(text), len(regex) if end < 0 else end + 2
    if name == "C":
        raise PatternError("invalid escape sequence '\\C'")
    if name in ("p", "P"):
        raise PatternError(f"Unicode classes ('\\{name}…') are not supported by devstack")
    if name.lower() in _PERL:
        return "atom", _class_text(_perl(name)), i + 2
    rune, i = _rune_escape(regex, i)
    return "atom", re.escape(chr(rune)), i


def _perl(name: str) -> Ranges:
    ranges = _PERL[name.lower()]
    return _negated(ranges) if name.isupper() else ranges


def _rune_escape(regex: str, i: int) -> tuple[int, int]:
    """Go's parseEscape: the character a backslash sequence stands for, and the index after it."""
    if i + 1 >= len(regex):
        raise PatternError("trailing backslash at end of expression")
    char, j = regex[i + 1], i + 2
    if char.isascii() and not char.isalnum():
        return ord(char), j  # an escaped punctuation character is itself
    if char == "0" or (char in _OCTAL and regex[j:j + 1] and regex[j] in _OCTAL):
        return _octal(regex, i + 1)
    if char == "x":
        return _hex(regex, j)
    if char in _C_ESCAPES:
        return _C_ESCAPES[char], j
    raise PatternError(f"invalid escape sequence '\\{char}'")  # \1 is a back reference: Go has none


def _octal(regex: str, i: int) -> tuple[int, int]:
    end = i + 1
    while end < min(i + 3, len(regex)) and regex[end] in _OCTAL:
        end += 1
    return int(regex[i:end], 8), end


def _hex(regex: str, i: int) -> tuple[int, int]:
    """`\\xHH` or `\\x{H…}` (at most U+10FFFF)."""
    if regex[i:i + 1] == "{":
        end = regex.find("}", i)
        digits = regex[i + 1:end] if end > i else ""
        if _is_hex(digits) and int(digits, 16) <= MAX_RUNE:
            return int(digits, 16), end + 1
    elif _is_hex(regex[i:i + 2]) and len(regex[i:i + 2]) == 2:
        return int(regex[i:i + 2], 16), i + 2
    raise PatternError(f"invalid escape sequence '\\x{regex[i:i + 2]}'")


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _class(regex: str, start: int) -> tuple[Ranges, int]:
    """Go's parseClass: the code points of the class that opens at `start`, and the index after its `]`."""
    i, negate = start + 1, regex.startswith("^", start + 1)
    i += negate
    ranges: Ranges = []
    first = True
    while i >= len(regex) or regex[i] != "]" or first:  # a `]` first in the class is a character
        first = False
        items, i = _class_item(regex, i, start)
        ranges += items
    return (_negated(ranges) if negate else ranges), i + 1


def _class_item(regex: str, i: int, start: int) -> tuple[Ranges, int]:
    if regex.startswith("[:", i) and len(regex) - i > 2 and (end := regex.find(":]", i + 2)) >= 0:
        return _posix(regex[i:end + 2]), end + 2  # Go looks for the `:]` anywhere further on
    if regex[i:i + 2] in ("\\p", "\\P"):
        raise PatternError(f"Unicode classes ('{regex[i:i + 2]}…') are not supported by devstack")
    if regex[i:i + 1] == "\\" and regex[i + 1:i + 2].lower() in _PERL:
        return _perl(regex[i + 1]), i + 2
    low, i = _class_char(regex, i, start)
    high = low
    if regex[i:i + 1] == "-" and regex[i + 1:i + 2] not in ("", "]"):  # `[a-]` is a and `-`
        high, i = _class_char(regex, i + 1, start)
        if high < low:
            raise PatternError(f"bad character range {chr(low)}-{chr(high)}")
    return [(low, high)], i


def _posix(name: str) -> Ranges:
    negate = name.startswith("[:^")
    ranges = _POSIX.get(name[3 if negate else 2:-2])
    if ranges is None:
        raise PatternError(f"invalid character class range: {name}")
    return _negated(ranges) if negate else ranges


def _class_char(regex: str, i: int, start: int) -> tuple[int, int]:
    if i >= len(regex):
        raise PatternError(f"missing closing ] in {regex[start:]}")
    if regex[i] == "\\":
        return _rune_escape(regex, i)
    return ord(regex[i]), i + 1


def _negated(ranges: Ranges) -> Ranges:
    """Every code point outside `ranges` (Go's negated classes match a newline too)."""
    out, low = [], 0
    for first, last in _merged(ranges):
        if first > low:
            out.append((low, first - 1))
        low = last + 1
    if low <= MAX_RUNE:
        out.append((low, MAX_RUNE))
    return out


def _merged(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def _class_text(ranges: Ranges) -> str:
    merged = _merged(ranges)
    if not merged:
        return "(?!)"  # an empty class matches nothing
    return "[" + "".join(_code(a) if a == b else f"{_code(a)}-{_code(b)}" for a, b in merged) + "]"


def _code(point: int) -> str:
    return f"\\U{point:08x}"
