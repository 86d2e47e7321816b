""".dockerignore semantics. The expectations follow moby's patternmatcher and its own test table; the tricky ones
(`**`, classes, escapes, comments, exceptions) were also checked against what `docker build` sends: a context built
with `COPY . /ctx/` (Docker CLI 28, engine 20.10), the image's files compared with devstack's scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.errors import ConfigError
from devstack.images import ignore


def excluded(patterns: list[str], path: str) -> bool:
    return ignore.excluded(path, ignore.parse(patterns))


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
    patterns = ignore.parse(["# a comment", "", "   ", "*.log", "#*.txt", "!", "."])
    assert [(p.text, p.exclude) for p in patterns] == [("*.log", True)]


def test_only_a_hash_in_the_first_column_starts_a_comment() -> None:
    # Docker checks for `#` before trimming: an indented `#` is a pattern.
    assert excluded(["  #notcomment"], "#notcomment")


def test_read_drops_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"\xef\xbb\xbfsecret.txt\n")
    assert ignore.excluded("secret.txt", ignore.read(tmp_path))


def test_read_without_a_file(tmp_path: Path) -> None:
    assert ignore.read(tmp_path) == []


@pytest.mark.parametrize("pattern", ["a[b", "[]", "x[\\]", "[z-a]"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    # `docker build` refuses them too ("syntax error in pattern").
    with pytest.raises(ignore.PatternError, match=r"^syntax error in pattern "):
        ignore.parse(["ok", pattern])


def test_malformed_pattern_in_the_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.pyc\na[b\n")
    with pytest.raises(ConfigError) as caught:
        ignore.read(tmp_path)
    assert str(caught.value) == f"{tmp_path}/.dockerignore: syntax error in pattern 'a[b' (no ']' closes the '[')"


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"*.log\n\xff\n")
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/.dockerignore: 'utf-8' codec can't decode byte 0xff"):
        ignore.read(tmp_path)
