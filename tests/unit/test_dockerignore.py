""".dockerignore semantics. The expectations follow moby's patternmatcher and its own test table; the tricky ones
(`**`, classes, escapes, comments, exceptions) were also checked against what `docker build` sends: a context built
with `COPY . /ctx/` (Docker CLI 28, engine 20.10), the image's files compared with devstack's scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.errors import ConfigError
from devstack.formats import ignore


def excluded(patterns: list[str], path: str) -> bool:
    return ignore.Matcher(ignore.parse(patterns)).excluded(path)


# --- moby/patternmatcher's tables, transcribed ------------------------------------------------------------------------
# TestMatches (patterns and paths as patternmatcher's walkers see them) and the single cases beside it.

PATTERNMATCHER_MATCHES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True),
    ("**", "/", True), ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True),
    ("**", "dir/file/", True), ("**/", "dir/file/", True), ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True), ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True), ("**/dir", "dir", True),
    ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True), ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True), ("**file", "dir/file", True), ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True), ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True), ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True), ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True),
    (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False), ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
    ("*", "fileutils.go", True), ("*.go", "fileutils.go", True),  # TestWildcardMatches, TestPatternMatches
]

PATTERNMATCHER_MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),  # TestExclusionPatternMatchesPatternBefore
    (["docs", "!docs/README.md"], "docs/README.md", False),  # TestPatternMatchesFolderExclusions
    (["docs/", "!docs/README.md"], "docs/README.md", False),  # …WithSlashExclusions
    (["docs/*", "!docs/README.md"], "docs/README.md", False),  # …WildcardExclusions
    (["*.go", "!fileutils.go"], "fileutils.go", False),  # TestExclusionPatternMatchesPatternAfter
]

# matchTests ("stolen from go's filepath Match tests"): (pattern, path, matches); None where it is an error.
PATTERNMATCHER_MATCH = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "abc", True),
    ("a*", "ab/c", True), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True), ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True), ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False), ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False), ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False), ("a?b", "a/b", False), ("a*b", "a/b", False),
    ("[\\]a]", "]", True), ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True), ("[\\-x]", "a", False),
    ("[]a]", "]", None), ("[-]", "-", None), ("[x-]", "x", None), ("[x-]", "-", None), ("[x-]", "z", None),
    ("[-x]", "x", None), ("[-x]", "-", None), ("[-x]", "a", None), ("\\", "a", None), ("[a-b-c]", "a", None),
    ("[", "a", None), ("[^", "a", None), ("[^bc", "a", None), ("a[", "a", None), ("a[", "ab", None),
    ("*x", "xxx", True),
    ("[Local-Only]/", "x", None),  # passes Go's syntax check, fails at the first path: a reversed range
]


@pytest.mark.parametrize(("pattern", "path", "expected"), PATTERNMATCHER_MATCHES)
def test_patternmatcher_matches(pattern: str, path: str, expected: bool) -> None:
    assert excluded([pattern], path.rstrip("/") or "/") is expected


@pytest.mark.parametrize(("patterns", "path", "expected"), PATTERNMATCHER_MULTI)
def test_patternmatcher_multi(patterns: list[str], path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


@pytest.mark.parametrize(("pattern", "path", "expected"), PATTERNMATCHER_MATCH)
def test_patternmatcher_match(pattern: str, path: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ignore.PatternError, match=r"^syntax error in pattern "):
            ignore.parse([pattern])
    else:
        assert excluded([pattern], path) is expected


# Docker's own answers where devstack used to give another: moby/patternmatcher v0.6.1 built with Go 1.26
# (ignorefile.ReadAll, then New, MatchesOrParentMatches, and every pattern compiled), run on these inputs on
# 2026-12-07. (lines, path, excluded); None, None where Docker refuses the file. They cover: a line that cleans to
# a lone `!`; New trimming and cleaning ReadAll's result again (`x/../ !y` is an exception); POSIX classes, which
# Go's regexp knows and Python's reads as sets; `\d \w \s` being ASCII in Go; Go's own escapes (`\Q`, `\x{..}`,
# octal, `\z`) and the ones it refuses; `{`, `}` and `|`, which patternmatcher does not escape (an alternation and
# repetitions for Go's regexp); and Go's filepath.Match reading a pattern only up to its first chunk that cannot
# match `.` (`(**b\` is valid, `**b\` is not).
DOCKER_ANSWERS = [
    (['!/'], None, None),
    (['!//'], None, None),
    (['!/./'], None, None),
    (['!/..'], None, None),
    (['x/../!'], None, None),
    (['./!'], None, None),
    (['*', 'x/../ !y'], 'y', False),
    (['*', 'x/../ !y'], 'z', True),
    (['[[:alpha:]]'], 'a', True),
    (['[[:alpha:]]'], 'Z', True),
    (['[[:alpha:]]'], '1', False),
    (['[[:alpha:]]'], '[', False),
    (['[[:alpha:]]'], 'a]', False),
    (['[[:^alpha:]]'], 'a', False),
    (['[[:^alpha:]]'], '1', True),
    (['[[:^alpha:]]'], 'é', True),
    (['[[:alnum:]]'], 'a', True),
    (['[[:alnum:]]'], '1', True),
    (['[[:alnum:]]'], '_', False),
    (['[[:ascii:]]'], 'a', True),
    (['[[:ascii:]]'], 'é', False),
    (['[[:blank:]]'], ' ', True),
    (['[[:blank:]]'], '\t', True),
    (['[[:blank:]]'], '\n', False),
    (['[[:cntrl:]]'], '\x7f', True),
    (['[[:cntrl:]]'], 'a', False),
    (['[[:digit:]]'], '5', True),
    (['[[:digit:]]'], '٣', False),
    (['[[:graph:]]'], 'a', True),
    (['[[:graph:]]'], ' ', False),
    (['[[:lower:]]'], 'a', True),
    (['[[:lower:]]'], 'A', False),
    (['[[:print:]]'], ' ', True),
    (['[[:print:]]'], '\x7f', False),
    (['[[:punct:]]'], '!', True),
    (['[[:punct:]]'], '~', True),
    (['[[:punct:]]'], 'a', False),
    (['[[:space:]]'], '\x0b', True),
    (['[[:space:]]'], ' ', True),
    (['[[:space:]]'], 'a', False),
    (['[[:upper:]]'], 'A', True),
    (['[[:upper:]]'], 'a', False),
    (['[[:word:]]'], '_', True),
    (['[[:word:]]'], '-', False),
    (['[[:xdigit:]]'], 'f', True),
    (['[[:xdigit:]]'], 'g', False),
    (['x[[:digit:][:upper:]]'], 'x1', True),
    (['x[[:digit:][:upper:]]'], 'xA', True),
    (['x[[:digit:][:upper:]]'], 'xa', False),
    (['a[[:alpha:]-z]'], 'a-', True),
    (['a[[:alpha:]-z]'], 'ab', True),
    (['a[[:alpha:]-z]'], 'a1', False),
    (['[[:foo:]]'], None, None),
    (['[[:alpha:]'], None, None),
    (['[[:alpha]]'], 'a', False),
    (['[[:alpha]]'], ']', False),
    (['a\\db'], 'a1b', True),
    (['a\\db'], 'a٣b', False),
    (['a\\wb'], 'a_b', True),
    (['a\\wb'], 'aéb', False),
    (['a\\sb'], 'a b', True),
    (['a\\sb'], 'a\x0bb', False),
    (['[\\d]'], '1', True),
    (['[\\d]'], '٣', False),
    (['\\Qa*b'], 'a*b', False),
    (['\\Qa*b'], 'a[^/]*b$', True),
    (['\\Qa*b'], 'axb', False),
    (['\\x{41}'], 'A', True),
    (['\\101'], 'A', True),
    (['a\\zb'], 'ab', False),
    (['\\é'], None, None),
    (['\\1'], None, None),
    (['\\C'], None, None),
    (['*a|b'], 'xa', True),
    (['*a|b'], 'ab', True),
    (['*a|b'], 'xb', True),
    (['*a|b'], 'q', False),
    (['*x{2}'], 'xx', True),
    (['*x{2}'], 'x{2}', False),
    (['?{2,}'], 'abc', True),
    (['?{2,}'], 'a', False),
    (['?{02}'], '?{02}', True),
    (['?{02}'], 'aa', False),
    (['?{2,1}'], None, None),
    (['*{2}'], None, None),
    (['*x{1001}'], None, None),
    (['(**b\\'], '(b$', True),
    (['(**b\\'], '(b', False),
    (['**b\\'], None, None),
    (['a*['], None, None),
]


@pytest.mark.parametrize(("lines", "path", "expected"), DOCKER_ANSWERS)
def test_docker_answers(lines: list[str], path: str | None, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ignore.PatternError):
            ignore.parse(lines)
    else:
        assert path is not None and excluded(lines, path) is expected


def test_unicode_classes_are_refused_though_docker_matches_them() -> None:
    """The one place devstack knowingly differs: Go's Unicode tables (`\\pL`, `\\p{Greek}`) follow the Go release
    Docker was built with, so devstack refuses them with the line rather than guess."""
    for pattern in ("\\pL", "x\\p{Greek}", "[\\PL]"):
        with pytest.raises(ignore.PatternError, match=r"Unicode classes .* are not supported by devstack") as caught:
            ignore.parse(["ok", pattern])
        assert caught.value.line == 2


def test_ignorefile_read_all(tmp_path: Path) -> None:
    """ignorefile's TestReadAll, less its two lone `!` lines, which Docker refuses when it builds."""
    content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n"
    patterns = ignore.parse(ignore.lines(content.encode()))
    assert [(p.text, p.exclude) for p in patterns] == [
        ("test1", True), ("test2", True), ("a/file/here", True), ("lastfile", True), ("inverted/abs/path", False)]


# --- tonistiigi/fsutil's walk tables, transcribed (as contexts: tests/unit/test_context.py runs them) --------------

@pytest.mark.parametrize(("pattern", "path", "expected"), [
    # plain names, `*`, `?`
    ("file", "file", True),
    ("file", "file2", False),
    ("*", "anything", True),
    ("*", ".hidden", True),
    ("*.txt", "a.txt", True),
    ("*.txt", "docs/a.txt", False),  # `*` stays within one folder
    ("*/*.txt", "docs/a.txt", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a?b", "a/b", False),
    ("*.TXT", "a.txt", False),  # case-sensitive
    ("abc.def", "abcZdef", False),  # `.` is literal
    ("a(b)c+$", "a(b)c+$", True),
    # `**`
    ("**", "dir/file", True),
    ("**/*.txt", "file.txt", True),
    ("**/*.txt", "dir/dir/file.txt", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/.foo", "bar.foo", False),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("abc/**", "abc", False),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("**file", "dir/file", True),
    ("**.txt", "dir/a.txt", True),  # a leading `**x` is a plain suffix match
    ("a**b", "a/x/b", True),
    ("a**b", "ab", True),
    ("a**b", "a*b", False),  # elsewhere `**` spans whole folders only
    ("a**b", "axb", False),
    # character classes
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    ("a[^b-d]e", "ace", False),
    ("[!a].txt", "!.txt", True),  # Go's `[!…]` is not a negation
    ("[!a].txt", "b.txt", False),
    ("[\\]a]", "]", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    # escapes
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a\\*b", "axb", False),
    ("\\#notcomment", "#notcomment", True),
    ("a\\\\", "a\\", True),
])
def test_pattern(pattern: str, path: str, expected: bool) -> None:
    assert excluded([pattern], path) is expected


@pytest.mark.parametrize(("patterns", "path", "expected"), [
    # a pattern that matches a parent folder excludes everything below it
    (["node_modules"], "node_modules/pkg/index.js", True),
    (["docs/sub"], "docs/sub/deep.txt", True),
    (["docs/*"], "docs/sub/deep.txt", True),
    (["*.txt"], "x.txt/inside", True),
    (["docs"], "documents/a", False),
    # `!` exceptions: the last matching pattern decides
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["!README.md", "*.md"], "README.md", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["docs", "!docs/README.md", "docs/README.md"], "docs/README.md", True),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["*", "!relay.py"], "relay.py", False),
    (["*", "!relay.py"], "Dockerfile", True),
    (["*.pyc", "!src/*.pyc"], "src/cache.pyc", False),
    (["*.pyc", "!src/*.pyc"], "app.pyc", True),
    (["src/*", "!src/test"], "src/test/t.py", False),
    # cleaning: leading slash, `./`, `..`, trailing slash, surrounding blanks
    (["/docs"], "docs/a", True),
    (["./docs/../src"], "src/app.py", True),
    (["src/"], "src/app.py", True),
    (["  a.txt   "], "a.txt", True),
    (["*.txt", "  !  a.txt  "], "a.txt", False),
])
def test_patterns(patterns: list[str], path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


def test_comments_and_blank_lines() -> None:
    patterns = ignore.parse(["# a comment", "", "   ", "*.log", "#*.txt", ".", "/", "!."])
    assert [(p.text, p.exclude) for p in patterns] == [("*.log", True)]


def test_only_a_hash_in_the_first_column_starts_a_comment() -> None:
    # Docker checks for `#` before trimming: an indented `#` is a pattern.
    assert excluded(["  #notcomment"], "#notcomment")


def test_read_drops_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"\xef\xbb\xbfsecret.txt\n")
    assert ignore.Matcher(ignore.read(tmp_path)).excluded("secret.txt")


@pytest.mark.parametrize(("data", "expected"), [
    (b"a\nb\n", ["a", "b"]),
    (b"a\r\nb\r\n", ["a", "b"]),  # Windows line ends
    (b"a\rb\n", ["a\rb"]),  # a lone \r does not end a line (Python's splitlines would split here)
    ("a\x0bb\x0cc\x1cd\x85e\u2028f".encode(), ["a\x0bb\x0cc\x1cd\x85e\u2028f"]),  # nor do these
    (b"a\r\r\n", ["a\r"]),  # only one \r before the \n is dropped
    (b"last", ["last"]),
    (b"", []),
    (b"\xef\xbb\xbf#comment\n", ["#comment"]),
])
def test_lines_split_as_docker_reads_them(data: bytes, expected: list[str]) -> None:
    assert ignore.lines(data) == expected


def test_a_lone_carriage_return_keeps_one_pattern(tmp_path: Path) -> None:
    # `a.txt\rb.txt` is one pattern, which neither file matches; Docker sends both.
    (tmp_path / ".dockerignore").write_bytes(b"a.txt\rb.txt\n")
    matcher = ignore.Matcher(ignore.read(tmp_path))
    assert not matcher.excluded("a.txt") and not matcher.excluded("b.txt")


def test_read_without_a_file(tmp_path: Path) -> None:
    assert ignore.read(tmp_path) == []


@pytest.mark.parametrize(("pattern", "message"), [
    ("a[b", "syntax error in pattern 'a[b' (no ']' closes the '[')"),
    ("[]", "syntax error in pattern '[]' (']' cannot stand there in a [class])"),
    ("x[\\]", "syntax error in pattern 'x[\\\\]' (no ']' closes the '[')"),
    ("[z-a]", "syntax error in pattern '[z-a]' (bad character range z-a)"),
    ("[-]", "syntax error in pattern '[-]' ('-' cannot stand there in a [class])"),
    ("[x-]", "syntax error in pattern '[x-]' (']' cannot stand there in a [class])"),
    ("[-x]", "syntax error in pattern '[-x]' ('-' cannot stand there in a [class])"),
    ("[a-b-c]", "syntax error in pattern '[a-b-c]' ('-' cannot stand there in a [class])"),
    ("trailing\\", "syntax error in pattern 'trailing\\\\' (a trailing '\\' escapes nothing)"),
    ("!", 'illegal exclusion pattern: "!"'),
    ("  !  ", 'illegal exclusion pattern: "!"'),
])
def test_malformed_patterns_are_refused(pattern: str, message: str) -> None:
    # `docker build` refuses them too.
    with pytest.raises(ignore.PatternError) as caught:
        ignore.parse(["ok", pattern])
    assert (str(caught.value), caught.value.line) == (message, 2)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("*.pyc\na[b\n", 2, "syntax error in pattern 'a[b' (no ']' closes the '[')"),
    ("# header\r\n\n!\n", 3, 'illegal exclusion pattern: "!"'),
    ("*.log\n!/\n", 2, 'illegal exclusion pattern: "!"'),  # `!/` cleans to a lone `!`, which Docker refuses
    ("*.log\n[[:foo:]]\n", 2, "syntax error in pattern '[[:foo:]]' (invalid character class range: [:foo:])"),
    ("ok\rstill line one\n[-]\n", 2, "syntax error in pattern '[-]' ('-' cannot stand there in a [class])"),
    ("a\n" + "x" * 65536 + "\n", 2, "line longer than 65536 bytes (Docker stops there: token too long)"),
])
def test_malformed_pattern_in_the_file_names_the_file_and_line(tmp_path: Path, text: str, line: int,
                                                               message: str) -> None:
    (tmp_path / ".dockerignore").write_text(text, newline="")
    with pytest.raises(ConfigError) as caught:
        ignore.read(tmp_path)
    assert str(caught.value) == f"{tmp_path}/.dockerignore:{line}: {message}"


def test_a_file_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"*.log\nok\xff\n")
    with pytest.raises(ConfigError) as caught:
        ignore.read(tmp_path)
    assert str(caught.value) == f"{tmp_path}/.dockerignore:2: not UTF-8: byte 0xff at column 3"
