"""`devstack ci`: build, deploy, wait until ready, run the smoke tests, exit. The run-once form of `up`."""

from __future__ import annotations

import time

import click

from devstack.cli import options
from devstack.cli.session import Session, pass_session
from devstack.engine import smoke_session
from devstack.engine.converge import run_once


@click.command("ci")
@options.timeout
@pass_session
def command(session: Session, timeout: float) -> int:
    """Build, deploy and wait until ready; then run the smoke tests. Exit 0 when all is well, 1 otherwise."""
    started = time.monotonic()
    config, console = session.config, session.console
    console.info(f"devstack ci · project {config.project} · provider {config.provider}")
    provider = session.provider()
    run_once(config, provider, console, timeout)
    console.info(f"ready in {time.monotonic() - started:.1f}s")
    if config.smoke:
        smoke_session.check(config.smoke, provider, console)
    return 0
