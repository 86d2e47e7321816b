"""`[images.NAME] packages = "packages.txt"`: the one list of Debian packages an image is built from.

The file lies in the image's context, so the Dockerfile COPYs it and installs it with apt (online), and devstack
reads the same file to bake an offline base that already holds it. One package per line; `#` starts a comment.
The list is normalised (sorted, without duplicates) before it is hashed: reordering it or adding a comment
changes neither the offline base nor the image's tag beyond the file's own content.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from devstack.config.model import PackageList
from devstack.config.reader import Table, relative
from devstack.errors import ListError
from devstack.formats import ignore

# Debian policy 5.6.7: lower-case letters, digits, '+', '-' and '.', at least two, starting alphanumeric.
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def parse(text: str) -> tuple[str, ...]:
    """The package names of a list, sorted and de-duplicated."""
    names: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 1:
            raise ListError(f"line {number}: one package per line, got {' '.join(words)!r}")
        if not _NAME.fullmatch(words[0]):
            raise ListError(f"line {number}: {words[0]!r} is not a Debian package name (lower-case letters, "
                            "digits, '+', '-' and '.', at least two characters; no versions or architectures)")
        names.add(words[0])
    if not names:
        raise ListError("names no package (only blank lines and comments)")
    return tuple(sorted(names))


def digest(names: tuple[str, ...]) -> str:
    return hashlib.sha256("".join(f"{name}\n" for name in names).encode()).hexdigest()


def read(table: Table, context: Path, extra_ignore: tuple[str, ...]) -> PackageList | None:
    """The `packages` key of an [images.NAME] table, checked now so no build starts from a bad list."""
    if not table.has("packages"):
        return None
    value: str = table.string("packages")
    path = (context / value).resolve()
    shown = relative(path, table.root)
    if not path.is_relative_to(context):
        raise table.error("packages", f"'{value}' must lie inside the image's context '{context.name}'")
    if not path.is_file():
        raise table.error("packages", f"file '{shown}' does not exist (a path relative to the image's context)")
    matcher = ignore.Matcher(ignore.read(context) + ignore.parse(extra_ignore))
    if matcher.excluded(path.relative_to(context).as_posix()):
        raise table.error("packages", f"'{shown}' is excluded from the build context (.dockerignore or `ignore`), "
                                      "so the Dockerfile cannot COPY it")
    try:
        names = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise table.error("packages", f"cannot read '{shown}': {err}") from None
    except ListError as err:
        raise table.error("packages", f"{shown}: {err}") from None
    return PackageList(file=path, names=names, digest=digest(names))
