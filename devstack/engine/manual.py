"""Manual trigger mode (`trigger = "manual"` in [resources.NAME]): which saved files wait for `devstack trigger`.

A saved file that only concerns images run by manual resources (a rebuild or a live update of them) is held: it
stays pending, shown on those resources' rows, and several such saves become one cycle when one of them is
triggered. A file that concerns any resource in auto mode, the deploy files or devstack.toml is not held. Pure:
the board and the config in, paths out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from devstack.config.model import Config
from devstack.engine import changes as changesets
from devstack.engine.state import Board


def held(board: Board, config: Config) -> dict[str, frozenset[Path]]:
    """Each manual resource with the pending saves that wait for its trigger (none: left out)."""
    manual = {name for name, spec in config.resources.items() if spec.trigger == "manual"}
    if not manual or not board.pending.paths:
        return {}
    changes = changesets.classify(config, board.pending.paths)
    by_image = {image: set(files) for image, files in (*changes.rebuild.items(), *changes.live.items())}
    found: dict[str, set[Path]] = {}
    auto: set[Path] = set()
    for image, files in by_image.items():
        runners = _running(board, image)
        waiting = runners & manual
        if waiting and waiting == runners:
            for name in waiting:
                found.setdefault(name, set()).update(files)
        else:
            auto |= files  # an auto resource runs it too (or nothing does yet): it goes now
    return {name: frozenset(files - auto) for name, files in found.items() if files - auto}


def paths(held: Mapping[str, frozenset[Path]], triggered: Iterable[str]) -> frozenset[Path]:
    """What stays pending: the held saves of the resources not triggered."""
    chosen = set(triggered)
    going = {path for name, files in held.items() if name in chosen for path in files}
    return frozenset(path for name, files in held.items() if name not in chosen for path in files) - going


def _running(board: Board, image: str) -> set[str]:
    tag = board.images.get(image, "")
    return {row.name for row in board.running_image(tag)}
