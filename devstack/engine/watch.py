"""Watch the project's files with watchfiles and hand batches of changed paths to the reconciler.

watchfiles already debounces (a save that writes several files arrives as one batch). Folders that are never
inputs (VCS, venvs, caches, devstack's own state) are filtered out before anything else sees them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import watchfiles

_SKIP_DIRS = {".git", ".hg", ".venv", "venv", "__pycache__", ".devstack", ".mypy_cache", ".pytest_cache",
              ".ruff_cache", "node_modules", ".idea", ".vscode"}
_SKIP_SUFFIXES = (".swp", ".swx", "~", ".tmp", ".pyc")


def wanted(path: Path) -> bool:
    return not (_SKIP_DIRS.intersection(path.parts) or path.name.endswith(_SKIP_SUFFIXES)
                or path.name.startswith(".#"))


async def watch(roots: list[Path], report: Callable[[set[Path]], None], stop: asyncio.Event,
                debounce_ms: int = 100) -> None:
    def keep(_change: watchfiles.Change, path: str) -> bool:
        return wanted(Path(path))

    async for batch in watchfiles.awatch(*roots, watch_filter=keep, debounce=debounce_ms, step=20,
                                         stop_event=stop, recursive=True):
        report({Path(path).resolve() for _change, path in batch})
