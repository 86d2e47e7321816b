"""`devstack logs [RESOURCE]...`: the services' logs, multiplexed with a prefix per resource."""

from __future__ import annotations

import asyncio
import time

import click

from devstack.cli.session import Session, pass_session
from devstack.errors import UsageError
from devstack.observe import logs


@click.command("logs")
@click.argument("resources", nargs=-1, metavar="[RESOURCE]...")
@click.option("-f", "--follow", is_flag=True, help="Keep following, across restarts and redeploys.")
@click.option("--since", type=click.FloatRange(min=0), metavar="SECONDS", help="Only lines of the last SECONDS.")
@click.option("--tail", type=click.IntRange(min=1), default=100, show_default=True, help="Lines per resource.")
@pass_session
def command(session: Session, resources: tuple[str, ...], follow: bool, since: float | None, tail: int) -> int:
    """Show the logs of every resource, or of those named."""
    provider = session.provider()
    deployed = [r.name for r in provider.status()]
    unknown = sorted(set(resources) - set(deployed))
    if unknown:
        raise UsageError(f"no deployed resource named {', '.join(map(repr, unknown))} "
                         f"(deployed: {', '.join(deployed) or 'none'})")
    chosen = list(resources) or deployed
    console = session.console
    console.width = max([len(name) for name in chosen] + [console.width])
    if not follow:
        for name in chosen:
            for line in provider.logs(name, tail):
                console.log_line(name, line)
        return 0
    start = time.time() - since if since is not None else None

    async def follow_all() -> None:
        followers = logs.Followers(console)
        followers.follow(provider.follow_logs, chosen, since=start)
        try:
            await followers.wait()
        finally:  # Ctrl-C: stop the streams, then the boundary exits 130
            await followers.stop()

    asyncio.run(follow_all())
    return 0
