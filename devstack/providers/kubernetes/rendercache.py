"""What `kubectl kustomize` and `helm template` rendered, kept on disk by what it was made from: a warm `ci`, and
a cycle that did not touch the manifests, do not start the tool again (half a second to a second each on a busy
machine, most of a warm `ci`).

The key is the command line, the tool's binary (path, size and modification time: another version may render
otherwise) and every file under the folders and every file the rendering reads (the caller names them). A
kustomization naming a remote base, and a chart that is not a local folder, are never kept: what they render can
change with no local file changing.

Kept in $XDG_CACHE_HOME/devstack/rendered (default ~/.cache/devstack/rendered), owner-only: a kustomize
secretGenerator renders the files it reads; the newest _KEPT renderings stay.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from devstack.providers.kubernetes import tools

_KEPT = 200
_SCHEME = b"devstack rendered v1\0"


def run(argv: list[str], inputs: Iterable[Path] | None, *, what: str) -> str:
    """`tools.run(argv)`'s output, from the cache when `inputs` (None: uncacheable) are as they were."""
    key = None if inputs is None else _key(argv, inputs)
    if key is None:
        return tools.run(argv, what=what)
    path = folder() / f"{key}.yaml"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = path.read_text(encoding="utf-8")
        os.utime(path)  # used: the trim keeps the newest
        return text
    text = tools.run(argv, what=what)
    _store(path, text)
    return text


def folder(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "devstack" / "rendered"


def _key(argv: list[str], inputs: Iterable[Path]) -> str | None:
    digest = hashlib.sha256(_SCHEME)
    try:
        tool = os.stat(argv[0])
        digest.update(f"{argv!r}\0{tool.st_size}\0{tool.st_mtime_ns}\0".encode())
        for path in sorted({p.resolve() for p in inputs}):
            if not path.exists():
                return None  # a chart named from a repository, not a folder: it can change with no file here
            for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
                if file.is_file():
                    digest.update(str(file).encode() + b"\0" + file.read_bytes() + b"\0")
    except (OSError, ValueError):
        return None  # something unreadable: the tool itself will say what
    return digest.hexdigest()


def _store(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False) as out:
            out.write(text)  # NamedTemporaryFile makes it 0600
        os.replace(out.name, path)
        _trim(path.parent)


def _trim(cache: Path) -> None:
    kept = sorted(cache.glob("*.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[_KEPT:]:
        with contextlib.suppress(OSError):
            old.unlink()
