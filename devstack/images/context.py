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

from devstack.images import ignore

# Bump when the hashing scheme changes, so old tags are not taken for new ones.
_SCHEME = b"devstack-context-v1\0"
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
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for rel in self.files:
                archive.add(self.root / rel, arcname=rel, recursive=False, filter=_normalise)
            if self.dockerfile_in_tar not in self.files:
                archive.add(self.dockerfile, arcname=self.dockerfile_in_tar, filter=_normalise)
        buffer.seek(0)
        return buffer


def scan(root: Path, dockerfile: Path, args: Mapping[str, str], extra_ignore: tuple[str, ...] = ()) -> Context:
    patterns = ignore.read(root) + ignore.parse(extra_ignore)
    files = tuple(sorted(_walk(root, patterns)))
    digest = hashlib.sha256(_SCHEME)
    digest.update(b"dockerfile\0" + dockerfile.read_bytes() + b"\0")
    for key in sorted(args):
        digest.update(f"arg\0{key}\0{args[key]}\0".encode())
    for rel in files:
        digest.update(_entry_digest(root / rel, rel))
    return Context(root=root, files=files, dockerfile=dockerfile, digest=digest.hexdigest())


def is_included(root: Path, path: Path, extra_ignore: tuple[str, ...] = ()) -> bool:
    """Whether a changed file counts for this context (used by the file watcher)."""
    if not path.is_relative_to(root):
        return False
    rel = path.relative_to(root).as_posix()
    return not ignore.excluded(rel, ignore.read(root) + ignore.parse(extra_ignore))


def _walk(root: Path, patterns: list[ignore.Pattern]) -> Iterator[str]:
    for folder, dirs, names in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            if not ignore.excluded(prefix + name, patterns):
                yield prefix + name
        kept = []
        for name in dirs:
            rel = prefix + name
            if os.path.islink(os.path.join(folder, name)):
                continue
            # An excluded folder is still walked when a `!` pattern might re-include something inside it.
            if not ignore.excluded(rel, patterns):
                yield rel
                kept.append(name)
            elif any(not p.exclude for p in patterns):
                kept.append(name)
        dirs[:] = kept


def _entry_digest(path: Path, rel: str) -> bytes:
    info = path.lstat()
    header = f"{rel}\0{stat.S_IMODE(info.st_mode) & 0o111:o}\0".encode()
    if stat.S_ISLNK(info.st_mode):
        return header + b"link\0" + os.readlink(path).encode() + b"\0"
    if stat.S_ISDIR(info.st_mode):
        return header + b"dir\0"
    content = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            content.update(block)
    return header + b"file\0" + content.digest()


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
