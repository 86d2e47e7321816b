"""The daemon's live view on a terminal: a table of resources, redrawn in place, with the log stream printed
above it. Off a terminal there is no table: plain lines say the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text

_STATE_STYLE = {"ok": "green", "live": "cyan", "error": "red", "failed": "red", "building": "yellow",
                "deploying": "yellow", "pending": "dim"}
COLUMNS = ("resource", "build", "deploy", "ready", "smoke", "age", "last error")


def table(resources: list[dict[str, Any]], error: str = "") -> Table:
    """One row per resource, as `Board.snapshot()` gives them."""
    view = Table(*COLUMNS, title="devstack up", title_justify="left", expand=False, pad_edge=False)
    for r in resources:
        view.add_row(r["name"], _state(r["build"]), _deploy(r), _state("ok" if r["ready"] else "pending",
                                                                                "yes" if r["ready"] else "no"),
                     _state(r["smoke"] or "pending", {"ok": "✓", "failed": "✗"}.get(r["smoke"] or "", "–")),
                     _age(float(r["age_s"])), Text(r["last_error"][:60], style="red"))
    if error:
        view.caption = Text(error.splitlines()[0][:120], style="red")
    return view


def renderer(snapshot: Callable[[], tuple[list[dict[str, Any]], str]]) -> Callable[[], Table]:
    return lambda: table(*snapshot())


def _deploy(row: dict[str, Any]) -> Text:
    said = note(row)
    return Text(said, style="yellow") if said else _state(row["deploy"])


def note(row: dict[str, Any]) -> str:
    """What a row waits for, in words: its dependencies (depends_on), a trigger (manual mode); "" for nothing."""
    if row.get("disabled"):
        return "disabled: devstack enable " + str(row["name"])
    if row.get("waiting_on"):
        return f"waiting on {', '.join(row['waiting_on'])}"
    if row.get("pending"):
        count = row["pending"]
        return f"{count} save{'s' if count != 1 else ''} pending: devstack trigger {row['name']}"
    return ""


def _state(state: str, label: str | None = None) -> Text:
    return Text(label or state, style=_STATE_STYLE.get(state, ""))


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
