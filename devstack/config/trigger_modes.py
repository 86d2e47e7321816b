"""Trigger modes switched at run time (`devstack trigger-mode NAME auto|manual`, the dashboard's button), as Tilt's
UI switches them: a per-project choice that overrides `trigger` in [resources.NAME] until it is reset, kept in the
project's state folder (`.devstack/trigger-modes.json`, a JSON object of resource → mode). The daemon holds it on
its board; this module only reads and writes the file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from devstack.config.model import TRIGGERS
from devstack.errors import ConfigError

FILENAME = "trigger-modes.json"
RESET = "reset"  # back to what devstack.toml says
MODES = (*TRIGGERS, RESET)


def path(state_dir: Path) -> Path:
    return state_dir / FILENAME


def read(state_dir: Path) -> dict[str, str]:
    file = path(state_dir)
    try:
        modes = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ConfigError(str(file), "", f"cannot read the trigger modes: {err} (delete it to go back to "
                                         "devstack.toml's modes)") from None
    if not isinstance(modes, dict) or not all(isinstance(k, str) and v in TRIGGERS for k, v in modes.items()):
        raise ConfigError(str(file), "", f"expected a JSON object of resource name → one of {', '.join(TRIGGERS)} "
                                         "(delete it to go back to devstack.toml's modes)")
    return dict(modes)


def write(state_dir: Path, modes: Mapping[str, str]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path(state_dir).write_text(json.dumps(dict(sorted(modes.items()))) + "\n", encoding="utf-8")


def updated(modes: Mapping[str, str], resource: str, mode: str) -> dict[str, str]:
    """`modes` with `resource` set to `mode` (auto | manual), or its override removed (reset)."""
    return {**{k: v for k, v in modes.items() if k != resource}, **({resource: mode} if mode != RESET else {})}
