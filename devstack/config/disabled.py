"""Resources switched off with `devstack disable NAME` (until `devstack enable NAME`): a per-project choice kept in
the project's state folder (`.devstack/disabled.json`), read with the config. A disabled resource is left out of
the deploy (removed from the cluster, its volumes kept), its forwards and smoke tests are not served or run, and a
disabled [[local]] resource does not run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from devstack.errors import ConfigError

FILENAME = "disabled.json"


def path(state_dir: Path) -> Path:
    return state_dir / FILENAME


def read(state_dir: Path) -> frozenset[str]:
    file = path(state_dir)
    try:
        names = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return frozenset()
    except (OSError, ValueError) as err:
        raise ConfigError(str(file), "", f"cannot read the disabled resources: {err} (devstack enable --all "
                                         "writes it anew)") from None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ConfigError(str(file), "", "expected a JSON list of resource names (devstack enable --all writes it "
                                         "anew)")
    return frozenset(names)


def write(state_dir: Path, names: Iterable[str]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path(state_dir).write_text(json.dumps(sorted(set(names))) + "\n", encoding="utf-8")
