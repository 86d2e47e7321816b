"""A build context as data: the files Docker would receive, their content hash, and the tar stream to send.

The hash covers the files (path, mode, content), the Dockerfile and the build args, so the image tag changes
exactly when a build could produce something different, and an unchanged image is never rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import ContextError
from devstack.formats import ignore

# Bump when the hashing scheme changes, so old tags are not taken for new ones.
_SCHEME = b"devstack-context-v3\0"
# Where a Dockerfile that lies outside its context goes in the tar stream.
OUTSIDE_DOCKERFILE = ".devstack.Dockerfile"


@dataclass(frozen=True)
class Context:
    root: Path
    files: tuple[str, ...]  # relative POSIX paths, sorted; folders included so empty ones are kept
    dockerfile: Path
    digest: str  # sha256 hex over files, Dockerfile and build args

    @property
    def dockerfile_in_tar(self) -> str:
        inside = self.dockerfile.is_relative_to(self.root)
        return self.dockerfile.relative_to(self.root).as_posix() if inside else OUTSIDE_DOCKERFILE

    def tar(self) -> io.BytesIO:
        """An uncompressed tar of the context. Timestamps are zeroed: only content and mode matter."""
        buffer = io.BytesIO()
        # GNU's format, not Python's default (POSIX pax): BuildKit takes a body starting with a pax header (a file
        # name that is not ASCII) for a Dockerfile, not an archive.
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
            for rel in self.files:
                archive.add(self.root / rel, arcname=rel, recursive=False, filter=_normalise)
            if self.dockerfile_in_tar not in self.files:
                archive.add(self.dockerfile, arcname=self.dockerfile_in_tar, filter=_normalise)
            if ".dockerignore" not in self.files:
                # The builder must read the Dockerfile, but an excluded one must not land in the image. As the
                # docker CLI does, a .dockerignore naming it (and itself) makes the daemon drop both after parsing.
                dockerfile = [self.dockerfile_in_tar] if self.dockerfile_in_tar not in self.files else []
                strip = [".dockerignore", *dockerfile]
                _add_text(archive, ".dockerignore", "\n".join(strip) + "\n")
        buffer.seek(0)
        return buffer


def scan(root: Path, dockerfile: Path, args: Mapping[str, str], extra_ignore: tuple[str, ...] = ()) -> Context:
    matcher = ignore.Matcher(ignore.read(root) + ignore.parse(extra_ignore))
    files = tuple(sorted(_walk(root, matcher)))
    digest = hashlib.sha256(_SCHEME)
    digest.update(b"dockerfile\0" + dockerfile.read_bytes() + b"\0")
    for key in sorted(args):
        digest.update(f"arg\0{key}\0{args[key]}\0".encode())
    for rel in files:
        digest.update(_entry_digest(root / rel, rel))
    return Context(root=root, files=files, dockerfile=dockerfile, digest=digest.hexdigest())


def _walk(root: Path, matcher: ignore.Matcher) -> Iterator[str]:
    """The context's entries as BuildKit walks them (tonistiigi/fsutil): an excluded folder is walked only
    when an exception may re-include something inside; a re-included entry brings its folders along; a
    folder that cannot be read is an error, unless it is excluded."""
    unsent: list[str] = []  # excluded folders walked into, sent only if something inside them is

    def walk(folder: str, parent: ignore.Match | None) -> Iterator[str]:
        for entry in _entries(root, folder, excluded=parent is not None and parent.excluded):
            rel = f"{folder}/{entry.name}" if folder else entry.name
            state = matcher.match(rel, parent)
            is_dir = entry.is_dir(follow_symlinks=False)
            if state.excluded:
                if is_dir and matcher.walks_into(rel):
                    unsent.append(rel)
                    yield from walk(rel, state)
                    if unsent and unsent[-1] == rel:
                        unsent.pop()
                continue
            yield from unsent
            unsent.clear()
            yield rel
            if is_dir:
                yield from walk(rel, state)

    return walk("", None)


def _entries(root: Path, folder: str, excluded: bool) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(root / folder) as found:
            return list(found)
    except PermissionError as err:
        if excluded:  # as BuildKit: an excluded folder it cannot read holds nothing to send
            return []
        raise ContextError(str(root / folder), err.strerror or str(err)) from None
    except OSError as err:
        raise ContextError(str(root / folder), err.strerror or str(err)) from None


def _entry_digest(path: Path, rel: str) -> bytes:
    info = path.lstat()
    # The whole mode, as the tar carries it: a key file made 0600 must give a new image.
    header = f"{rel}\0{stat.S_IMODE(info.st_mode):o}\0".encode()
    if stat.S_ISLNK(info.st_mode):
        return header + b"link\0" + os.readlink(path).encode() + b"\0"
    if stat.S_ISDIR(info.st_mode):
        return header + b"dir\0"
    if not stat.S_ISREG(info.st_mode):  # a fifo, socket or device: its kind is all that is sent
        return header + f"special\0{stat.S_IFMT(info.st_mode):o}\0".encode()
    content = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                content.update(block)
    except OSError as err:
        raise ContextError(str(path), err.strerror or str(err)) from None
    return header + b"file\0" + content.digest()


def _add_text(archive: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    archive.addfile(info, io.BytesIO(data))


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
