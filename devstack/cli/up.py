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
from devstack.errors import DevstackError, UsageError
from devstack.observe import record
from devstack.providers import registry
from devstack.web import control

_DETACH_WAIT_S = 30.0


@click.command("up")
@options.timeout
@click.option("--detach", is_flag=True, help="Run in the background; its output goes to .devstack/daemon.log.")
@click.option("--record", "record_to", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Record the session: FILE.cast (asciicast v2, for asciinema), FILE.svg or FILE.html.")
@click.option("--web-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve the dashboard on 127.0.0.1:PORT (default: [dashboard] port, 10360; 0 picks a free one).")
@click.option("--no-web", is_flag=True, help="Serve no dashboard.")
@click.option("--snapshot-on-exit", "snapshot_to", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="When up stops, write a snapshot to FILE.json or FILE.html (no secrets).")
@click.option("-v", "--verbose", is_flag=True,
              help="After each cycle's line, where its time went: build, deliver, apply, rollout, endpoints, smoke.")
@pass_session
def command(session: Session, timeout: float, detach: bool, record_to: Path | None, web_port: int | None,
            no_web: bool, snapshot_to: Path | None, verbose: bool) -> int:
    """Bring the stack up and keep it up to date as files change."""
    config = session.config
    port = _web_port(config, web_port, no_web)
    if snapshot_to is not None:
        snapshots.check_path(snapshot_to, "--snapshot-on-exit")
        snapshot_to = snapshot_to.resolve()
    if detach:
        return _detach(session, config, timeout, snapshot_to, port, verbose)
    if record_to is not None:
        session.console = record.recording_console(record_to, session.console)
    held = control.lock(config)
    try:
        return _run(session, config, timeout, snapshot_to, port, verbose)
    finally:
        held.close()
        record.finish(session.console)


def _web_port(config: Config, web_port: int | None, no_web: bool) -> int | None:
    """--no-web, else --web-port, else [dashboard]: its port, or none when it says `enabled = false`."""
    if no_web and web_port is not None:
        raise UsageError("--no-web and --web-port contradict each other: give one of them")
    if no_web:
        return None
    if web_port is not None:
        return web_port
    return config.dashboard.port if config.dashboard.enabled else None


def _run(session: Session, config: Config, timeout: float, snapshot_to: Path | None, web_port: int | None,
         verbose: bool) -> int:
    console = session.console
    console.info(f"devstack up · project {config.project} · provider {config.provider}")
    options = session.options
    daemon = Daemon(config, session.load, lambda c: registry.create(c, options), console, timeout, web_port=web_port,
                    verbose=verbose)

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


def _detach(session: Session, config: Config, timeout: float, snapshot_to: Path | None,
            web_port: int | None, verbose: bool) -> int:
    running = control.find(config)
    if running is not None:
        raise DevstackError(f"devstack up is already running for project '{config.project}' (pid {running.pid})")
    config.state_dir.mkdir(parents=True, exist_ok=True)
    log = config.state_dir / "daemon.log"
    command = [sys.executable, "-m", "devstack", *global_options.argv(session, file=str(config.file)), "up",
               "--timeout", str(timeout), *(("--snapshot-on-exit", str(snapshot_to)) if snapshot_to else ()),
               *(("--no-web",) if web_port is None else ("--web-port", str(web_port))), *(("-v",) if verbose else ())]
    # Owner-only: the log holds the dashboard's address with its token.
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + _DETACH_WAIT_S
    while (running := control.find(config)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace").strip().splitlines()[-10:]
            raise DevstackError("the background devstack did not start:\n" + "\n".join(f"  | {t}" for t in tail))
        blocking.sleep(0.1)
    session.console.info(f"devstack is running in the background (pid {process.pid}); output: "
                         f"{config.display(log)}; `devstack status` to follow, `devstack down` to stop")
    if running.dashboard:
        session.console.info(f"dashboard: {running.dashboard}")
    return 0
