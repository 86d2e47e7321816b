"""`devstack logs [RESOURCE]...`: the services' logs, multiplexed with a prefix per resource, or as JSON lines.

    devstack logs --since 5m --tail 20 relay
    devstack logs --json -f | jq -r 'select(.stream == "stderr") | .text'
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import click

from devstack.cli.session import Session, pass_session
from devstack.errors import UsageError
from devstack.observe import logs
from devstack.observe.console import Console
from devstack.providers.base import LogLine

_DEFAULT_TAIL = 100
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """90, 90s, 5m, 1h30m, 2d: seconds as a number or a sum of parts with units (Tilt's and Go's form)."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if text and re.fullmatch(f"(?:{_PART.pattern})+", text):
        return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    raise click.BadParameter(f"expected a duration such as 90, 30s, 5m or 1h30m, got {text!r}", ctx, param)


@click.command("logs")
@click.argument("resources", nargs=-1, metavar="[RESOURCE]...")
@click.option("-f", "--follow", is_flag=True, help="Keep following, across restarts and redeploys.")
@click.option("--since", callback=duration, metavar="DURATION",
              help="Only lines of the last DURATION (90, 30s, 5m, 1h).")
@click.option("--tail", type=click.IntRange(min=0), metavar="N",
              help=f"The last N lines of each task or container (default {_DEFAULT_TAIL}; all with --since).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per line: time, resource, container (task or pod/container), stream, text.")
@click.option("--timestamps", is_flag=True, help="Start each line with the time the engine stamped it.")
@pass_session
def command(session: Session, resources: tuple[str, ...], follow: bool, since: float | None, tail: int | None,
            as_json: bool, timestamps: bool) -> int:
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
    show = Printer(console, as_json=as_json, timestamps=timestamps)
    start = time.time() - since if since is not None else None
    if not follow:
        if tail is None and since is None:
            tail = _DEFAULT_TAIL
        found = [(name, line) for name in chosen for line in provider.log_lines(name, tail, start)]
        for name, line in sorted(found, key=lambda pair: pair[1].time):  # stable: a resource's order stays
            show(name, line)
        return 0

    async def follow_all() -> None:
        followers = logs.Followers(console, show)
        followers.follow(provider.follow_logs, chosen, since=start)
        try:
            await followers.wait()
        finally:  # Ctrl-C: stop the streams, then the boundary exits 130
            await followers.stop()

    asyncio.run(follow_all())
    return 0


class Printer:
    """Prints a line of one resource as the options ask; called from several log threads at once."""

    def __init__(self, console: Console, *, as_json: bool, timestamps: bool) -> None:
        self.console, self.as_json, self.timestamps = console, as_json, timestamps

    def __call__(self, resource: str, line: LogLine) -> None:
        if line.devstack and not self.as_json:
            self.console.event(resource, line.display(), ok=False)  # devstack's word, not the service's
            return
        if not self.as_json:
            text = line.display()
            self.console.log_line(resource, f"{line.time} {text}" if self.timestamps and line.time else text)
            return
        record = {"time": line.time or None, "resource": resource, "container": line.source or None,
                  "stream": "devstack" if line.devstack else line.stream or None, "text": line.text}
        self.console.write(json.dumps(record, ensure_ascii=False) + "\n")
