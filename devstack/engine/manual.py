"""Manual trigger mode (`trigger = "manual"` in [resources.NAME], or switched at run time by `devstack
trigger-mode`): which saved files wait for `devstack trigger`.

A saved file that only concerns images run by manual resources (a rebuild or a live update of them), or the deps
of a manual [[local]] resource, is held: it stays pending, shown on those resources' rows, and several such saves
become one cycle when one of them is triggered. A file that concerns any resource in auto mode, the deploy files
or devstack.toml is not held. Pure: the board and the config in, paths out.

A resource's mode is the board's override when it has one (the runtime switch, Tilt's UI toggle), else what
devstack.toml says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from devstack.config.model import Config
from devstack.engine import changes as changesets
from devstack.engine.state import Board


def mode(board: Board, config: Config, name: str) -> str:
    """auto | manual: the runtime override of `name` when it has one, else devstack.toml's setting."""
    return board.trigger_modes.get(name) or config.resource(name).trigger


def held(board: Board, config: Config) -> dict[str, frozenset[Path]]:
    """Each manual resource with the pending saves that wait for its trigger (none: left out)."""
    manual = {name for name in {*config.resources, *board.trigger_modes} if mode(board, config, name) == "manual"}
    if not manual or not board.pending.paths:
        return {}
    changes = changesets.classify(config, board.pending.paths)
    by_image = {image: set(files) for image, files in (*changes.rebuild.items(), *changes.live.items())}
    # Who each saved file concerns: the resources running an image it goes into, the local resources it re-runs.
    users = [(_running(board, image), files) for image, files in by_image.items()]
    users += [({name}, set(files)) for name, files in changes.local.items()]
    found: dict[str, set[Path]] = {}
    auto: set[Path] = set()
    for names, files in users:
        if names and names <= manual:
            for name in names:
                found.setdefault(name, set()).update(files)
        else:
            auto |= files  # an auto resource needs it too (or nothing runs it yet): it goes now
    return {name: frozenset(files - auto) for name, files in found.items() if files - auto}


def paths(held: Mapping[str, frozenset[Path]], triggered: Iterable[str]) -> frozenset[Path]:
    """What stays pending: the held saves of the resources not triggered."""
    chosen = set(triggered)
    going = {path for name, files in held.items() if name in chosen for path in files}
    return frozenset(path for name, files in held.items() if name not in chosen for path in files) - going


def _running(board: Board, image: str) -> set[str]:
    tag = board.images.get(image, "")
    return {row.name for row in board.running_image(tag)}
