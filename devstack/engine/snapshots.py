"""Snapshots for bug reports and CI artifacts: the state of a project at one moment, as one JSON document or one
self-contained HTML page that opens offline.

    devstack snapshot state.html           now (through a running `up` when there is one)
    devstack ci --snapshot ci.json         when ci fails
    devstack up --snapshot-on-exit up.html when up stops

What it holds: the project, the resources (ready, replicas, image, ports; with `up`, its build, deploy and smoke
state and the last error), the smoke results, what devstack printed last (its cycles and steps), the failure if
any, and the last log lines of each resource. Every dev secret's value is replaced by [redacted] before anything
is written: a snapshot is made to be passed around.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import __version__
from devstack.config import secret_store
from devstack.config.model import Config
from devstack.errors import DevstackError, UsageError
from devstack.observe import snapshot_page
from devstack.providers.base import Provider

SUFFIXES = (".json", ".html")
LOG_LINES = 50


def check_path(path: Path, option: str) -> None:
    """Before any work: a snapshot file is .json or .html, in a folder that exists."""
    if path.suffix not in SUFFIXES:
        raise UsageError(f"{option}: {path.name}: expected a file ending in {' or '.join(SUFFIXES)}")
    if not path.parent.resolve().is_dir():
        raise UsageError(f"{option}: {path.parent}: no such directory")


def collect(config: Config, provider: Provider, *, command: str, board: Mapping[str, Any] | None = None,
            output: Iterable[str] = (), smoke: Sequence[Mapping[str, Any]] = (), failure: str = "") -> dict[str, Any]:
    """The snapshot as data. `board`: a running daemon's /status; without one the engine's own view is used."""
    resources = _resources(provider, board)
    return {
        "devstack": __version__, "taken_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
        "project": config.project, "provider": config.provider, "config": config.file.name,
        "phase": board.get("phase") if board else None, "failure": failure or None,
        "error": (board or {}).get("error") or None, "resources": resources, "smoke": list(smoke),
        "output": list(output), "logs": _logs(provider, [r["name"] for r in resources]),
    }


def write(path: Path, snapshot: dict[str, Any]) -> None:
    # Redacted in the JSON text itself (by the one redactor, which knows the config's secrets and their JSON
    # spellings), so no field, key or nested value can carry a secret through.
    clean = json.loads(secret_store.redact(json.dumps(snapshot)))
    document = json.dumps(clean, indent=2, ensure_ascii=False) + "\n" if path.suffix == ".json" else \
        snapshot_page.render(clean)
    try:
        path.write_text(document, encoding="utf-8")
    except OSError as err:
        raise DevstackError(f"cannot write the snapshot {path}: {err.strerror or err}") from None


def _resources(provider: Provider, board: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    try:
        seen = {status.name: {**asdict(status), "ports": list(status.ports)} for status in provider.status()}
    except DevstackError as err:
        seen = {}
        if board is None:
            return [{"name": "(engine)", "ready": False, "message": f"could not be asked: {err}"}]
    for entry in (board or {}).get("resources", []):  # what the daemon knows: build, deploy, smoke, last error
        seen[entry["name"]] = {**seen.get(entry["name"], {}), **entry}
    return [seen[name] for name in sorted(seen)]


def _logs(provider: Provider, names: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for name in names:
        try:
            lines = provider.log_lines(name, LOG_LINES, None)
        except DevstackError as err:
            found[name] = [{"time": "", "container": "", "stream": "", "text": f"(no logs: {err})"}]
            continue
        found[name] = [{"time": line.time, "container": line.source, "stream": line.stream, "text": line.text}
                       for line in sorted(lines, key=lambda line: line.time)[-LOG_LINES:]]
    return found
