"""`devstack up`: build, deploy and wait until ready, then keep watching: every saved file is rebuilt,
redeployed or live-updated and smoke-tested, with no command typed. Ctrl-C stops watching, not the stack."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from devstack import blocking
from devstack.cli import boundary, global_options, options
from devstack.cli.session import Session, pass_session
from devstack.config.model import Config
from devstack.engine import snapshots
from devstack.engine.daemon import Daemon
from devstack.errors import DevstackError
from devstack.observe import control, record
from devstack.providers import registry

_DETACH_WAIT_S = 30.0


@click.command("up")
@options.timeout
@click.option("--detach", is_flag=True, help="Run in the background; its output goes to .devstack/daemon.log.")
@click.option("--record", "record_to", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Record the session: FILE.cast (asciicast v2, for asciinema), FILE.svg or FILE.html.")
@click.option("--snapshot-on-exit", "snapshot_to", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="When up stops, write a snapshot to FILE.json or FILE.html (no secrets).")
@pass_session
def command(session: Session, timeout: float, detach: bool, record_to: Path | None, snapshot_to: Path | None) -> int:
    """Bring the stack up and keep it up to date as files change."""
    config = session.config
    if snapshot_to is not None:
        snapshots.check_path(snapshot_to, "--snapshot-on-exit")
        snapshot_to = snapshot_to.resolve()
    if detach:
        return _detach(session, config, timeout, snapshot_to)
    if record_to is not None:
        session.console = record.recording_console(record_to, session.console)
    held = control.lock(config)
    try:
        return _run(session, config, timeout, snapshot_to)
    finally:
        held.close()
        record.finish(session.console)


def _run(session: Session, config: Config, timeout: float, snapshot_to: Path | None) -> int:
    console = session.console
    console.info(f"devstack up · project {config.project} · provider {config.provider}")
    options = session.options
    daemon = Daemon(config, session.load, lambda c: registry.create(c, options), console, timeout)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # Closing the terminal sends SIGHUP: it stops the daemon as SIGTERM and Ctrl-C do, never the stack.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, daemon.stop.set)
        await daemon.run()

    try:
        asyncio.run(main())
    finally:
        if snapshot_to is not None:
            _snapshot(session, daemon, snapshot_to)
    if daemon.interrupted:
        # Work in progress (a build, a deploy, a readiness wait, smoke tests) was stopped half-way.
        console.error("interrupted: the work in progress was stopped; `devstack status` shows what runs")
        return boundary.EXIT_INTERRUPTED
    console.info("stopped watching; the stack keeps running (`devstack down` removes it)")
    return 0


def _snapshot(session: Session, daemon: Daemon, path: Path) -> None:
    provider = registry.create(daemon.config, session.options)
    try:
        data = snapshots.collect(daemon.config, provider, command="up", board=daemon.status(),
                                 output=session.console.history, smoke=daemon.smoke_results())
    finally:
        provider.close()
    snapshots.write(path, data)
    session.console.info(f"wrote the snapshot {path}")


def _detach(session: Session, config: Config, timeout: float, snapshot_to: Path | None) -> int:
    running = control.find(config)
    if running is not None:
        raise DevstackError(f"devstack up is already running for project '{config.project}' (pid {running.pid})")
    config.state_dir.mkdir(parents=True, exist_ok=True)
    log = config.state_dir / "daemon.log"
    command = [sys.executable, "-m", "devstack", *global_options.argv(session, file=str(config.file)), "up",
               "--timeout", str(timeout), *(("--snapshot-on-exit", str(snapshot_to)) if snapshot_to else ())]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + _DETACH_WAIT_S
    while control.find(config) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace").strip().splitlines()[-10:]
            raise DevstackError("the background devstack did not start:\n" + "\n".join(f"  | {t}" for t in tail))
        blocking.sleep(0.1)
    session.console.info(f"devstack is running in the background (pid {process.pid}); output: "
                         f"{config.display(log)}; `devstack status` to follow, `devstack down` to stop")
    return 0
