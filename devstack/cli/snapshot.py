"""`devstack snapshot FILE`: the project's state now, as FILE.json or a self-contained FILE.html (no secret in
either). With `devstack up` running, its board and what it printed come along."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from devstack.cli.session import Session, pass_session
from devstack.engine import snapshots
from devstack.web import control


@click.command("snapshot")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE")
@pass_session
def command(session: Session, target: Path) -> int:
    """Write the state of the project (resources, smoke results, what devstack printed, the last log lines of each
    resource) to FILE.json or FILE.html, for a bug report."""
    snapshots.check_path(target, "FILE")
    config = session.config
    endpoint = control.find(config)
    found: dict[str, Any] = control.call(endpoint, "GET", "/api/snapshot") if endpoint is not None else {}
    provider = session.provider()
    try:
        data = snapshots.collect(config, provider, command="snapshot", board=found.get("status"),
                                 output=found.get("output", ()), smoke=found.get("smoke", ()))
    finally:
        provider.close()
    snapshots.write(target, data)
    session.console.info(f"wrote {target}: {len(data['resources'])} resource(s)"
                         + (f", the board of devstack up (pid {endpoint.pid})" if endpoint else ""))
    return 0
