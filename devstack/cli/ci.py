"""`devstack ci`: build, deploy, wait until ready, run the smoke tests, exit. The run-once form of `up`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

from devstack.cli import options
from devstack.cli.session import Session, pass_session
from devstack.engine import converge, local_resources, smoke_session, snapshots
from devstack.errors import DevstackError, SmokeFailed
from devstack.providers.base import Provider

# ci's verdict is final: everything must stay ready this long, so a container that exits just after it started
# fails ci (the kubelet reports an exit within about a second; its status update and our watch add the rest).
SETTLE_S = 2.0


@click.command("ci")
@options.timeout
@click.option("--snapshot", "snapshot_to", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="When ci fails, write a snapshot to FILE.json or FILE.html (a CI artifact; no secrets).")
@pass_session
def command(session: Session, timeout: float, snapshot_to: Path | None) -> int:
    """Build, deploy and wait until ready; then run the smoke tests. Exit 0 when all is well, 1 otherwise."""
    if snapshot_to is not None:
        snapshots.check_path(snapshot_to, "--snapshot")
    config, console = session.config, session.console
    console.info(f"devstack ci · project {config.project} · provider {config.provider}")
    provider = session.provider()
    try:
        _run(session, provider, timeout)
    except DevstackError as err:
        if snapshot_to is not None and err.exit_code == 1:
            _snapshot(session, snapshot_to, err)
        raise
    return 0


def _snapshot(session: Session, path: Path, err: DevstackError) -> None:
    provider = session.provider()  # a fresh one: the smoke session closes its own
    try:
        smoke = err.results if isinstance(err, SmokeFailed) else []
        data = snapshots.collect(session.config, provider, command="ci", output=session.console.history, smoke=smoke,
                                 failure=str(err))
    finally:
        provider.close()
    snapshots.write(path, data)
    session.console.info(f"wrote the snapshot {path}")


def _run(session: Session, provider: Provider, timeout: float) -> None:
    try:
        asyncio.run(_ci(session, provider, timeout))
    finally:
        provider.close()


async def _ci(session: Session, provider: Provider, timeout: float) -> None:
    """One loop for the whole run, so that the [[local]] serves started on the way keep running through the deploy
    and the smoke tests (which may need them), and end with ci."""
    started = time.monotonic()
    config, console = session.config, session.console
    before, after = local_resources.ordered(config, local_resources.names(config))

    def said(name: str, text: str, ok: bool) -> None:
        console.event(name, text, ok=ok)

    async with local_resources.serving(console.log_line) as serve:
        # Checks that fail stop ci before anything is built.
        await local_resources.run_in_order(config, before, console.log_line, said, serve)
        await converge.within(config, provider, console, timeout, settle_s=SETTLE_S)
        await local_resources.run_in_order(config, after, console.log_line, said, serve)  # after the deploy
        console.info(f"ready in {time.monotonic() - started:.1f}s")
        if config.smoke:
            smoke_session.report(await smoke_session.run(config.smoke, provider, console), console)
