"""`devstack wait [NAME]... [--for ready|smoke] [--timeout S]`: return once the resources are ready (or their smoke
tests passed), for scripts, CI and agents; exit 1 on timeout naming what was not.

With `devstack up` running it reads the daemon's board (ready, and neither waiting on a dependency nor in a
deploy, after the first pass; `--for smoke`: the latest smoke tests about each passed). Without one it asks the
engine, and for `--for smoke` runs the smoke tests about them until they pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import click

from devstack.cli.session import Session, pass_session
from devstack.config.model import Config
from devstack.engine import smoke_session
from devstack.errors import DevstackError, UsageError
from devstack.providers.base import Provider
from devstack.web import control

_POLL_S = 0.5


@click.command("wait")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--for", "condition", type=click.Choice(["ready", "smoke"]), default="ready", show_default=True,
              help="ready: deployed and ready; smoke: and the smoke tests about it passed.")
@click.option("--timeout", type=click.FloatRange(min=0), default=300.0, show_default=True, metavar="SECONDS",
              help="Give up after this long (exit 1, naming what was not ready).")
@pass_session
def command(session: Session, names: tuple[str, ...], condition: str, timeout: float) -> int:
    """Wait until every resource (or those NAMEd) is ready, or its smoke tests passed."""
    config = session.config
    endpoint = control.find(config)
    deadline = time.monotonic() + timeout
    if endpoint is not None:
        missing = asyncio.run(_until(lambda: _on_board(control.call(endpoint, "GET", "/api/state"), config, names,
                                                       condition), deadline))
    else:
        provider = session.provider()
        try:
            missing = asyncio.run(_until(lambda: _on_engine(provider, names), deadline))
            if not missing and condition == "smoke":
                missing = asyncio.run(_smoke(session, provider, names, deadline))
        finally:
            provider.close()
    if missing:
        raise DevstackError(f"timed out after {timeout:.0f}s: " + "; ".join(missing))
    session.console.info(f"{', '.join(names) or 'every resource'}: {'smoke ✓' if condition == 'smoke' else 'ready'}")
    return 0


async def _until(check: Any, deadline: float) -> list[str]:
    """Call `check` (→ what is not there yet) until it says nothing or the deadline passes; the last answer."""
    while True:
        missing: list[str] = await asyncio.to_thread(check)
        if not missing or time.monotonic() >= deadline:
            return missing
        await asyncio.sleep(min(_POLL_S, max(deadline - time.monotonic(), 0)))


def _on_board(board: dict[str, Any], config: Config, names: Sequence[str], condition: str) -> list[str]:
    rows = {row["name"]: row for row in board["resources"]}
    unknown = sorted(set(names) - set(rows) - {local.name for local in config.local})
    if unknown and board["phase"] == "watching":
        raise UsageError(f"no resource named {', '.join(map(repr, unknown))} (the resources: "
                         f"{', '.join(sorted(rows)) or 'none'})")
    if board["phase"] != "watching":
        return [f"devstack up is still {board['phase']}"]
    return [problem for name in (names or sorted(rows)) if (problem := _row_problem(rows.get(name), name, condition,
                                                                                      config))]


def _row_problem(row: dict[str, Any] | None, name: str, condition: str, config: Config) -> str:
    if row is None:
        return f"{name}: not deployed"
    if row.get("waiting_on"):
        return f"{name}: waiting on {', '.join(row['waiting_on'])}"
    if not row["ready"] or row["deploy"] != "ok":
        return f"{name}: not ready ({row['deploy']}{': ' + row['last_error'] if row['last_error'] else ''})"
    tested = any(spec.resource in (None, name) for spec in config.smoke)
    if condition == "smoke" and tested and row["smoke"] != "ok":
        return f"{name}: smoke {'failed' if row['smoke'] == 'failed' else 'not run yet'}"
    return ""


def _on_engine(provider: Provider, names: Sequence[str]) -> list[str]:
    try:
        found = {status.name: status for status in provider.status()}
    except DevstackError as err:
        return [f"the engine: {err}"]
    problems = [f"{name}: not deployed" for name in names if name not in found]
    return problems + [f"{s.name}: not ready ({s.running}/{s.desired}{', ' + s.message if s.message else ''})"
                       for s in found.values() if (not names or s.name in names) and not s.ready]


async def _smoke(session: Session, provider: Provider, names: Sequence[str], deadline: float) -> list[str]:
    specs = [spec for spec in session.config.smoke if not names or spec.resource in (None, *names)]
    while True:
        results = await smoke_session.run(specs, provider, session.console)
        failed = [f"smoke {r.name}: expected {r.expected}, got {r.got}" for r in results if not r.ok]
        if not failed or time.monotonic() >= deadline:
            return failed
        await asyncio.sleep(_POLL_S)
