"""The daemon's two listeners, on the same routes: the unix socket for the CLI (always), and 127.0.0.1:PORT for
the dashboard (unless it is off). A dashboard port that is taken is said and the daemon goes on without it; a
unix socket that cannot be made stops the daemon (the CLI could not reach it)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from devstack.errors import DevstackError
from devstack.networking import ports
from devstack.web import app, guard, mail
from devstack.web.backend import Backend, Redact

STOP_WAIT_S = 0.25  # how long open requests (the pages' event streams) get when the daemon stops


@dataclass(frozen=True)
class Listening:
    socket: Path
    url: str | None  # the dashboard's address with the token: the one to open
    problem: str = ""  # why there is no dashboard, when it was asked for

    @property
    def address(self) -> str | None:
        """The dashboard's address without the token, for lines that others may read."""
        return self.url.split("?", 1)[0] if self.url else None


@contextlib.asynccontextmanager
async def listening(backend: Backend, redact: Redact, token: str, path: Path,
                    port: int | None) -> AsyncIterator[Listening]:
    """Serve until the block ends. `port` None: no dashboard; 0: any free port (tests)."""
    runners: list[web.AppRunner] = []
    try:
        await _unix(runners, app.application(backend, guard.Guard(token), redact), path)
        url, problem = None, ""
        if port is not None:
            url, problem = await _tcp(runners, backend, redact, token, port)
        yield Listening(path, url, problem)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _runner(runners: list[web.AppRunner], application: web.Application) -> web.AppRunner:
    application.cleanup_ctx.append(mail.session)
    runner = web.AppRunner(application, access_log=None, shutdown_timeout=STOP_WAIT_S)
    await runner.setup()
    runners.append(runner)
    return runner


async def _unix(runners: list[web.AppRunner], application: web.Application, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a daemon that was killed: the lock says none runs now
    runner = await _runner(runners, application)
    try:
        await web.UnixSite(runner, str(path)).start()
    except OSError as err:
        raise DevstackError(f"cannot serve the control API on {path}: {err.strerror}") from None
    os.chmod(path, 0o600)


async def _tcp(runners: list[web.AppRunner], backend: Backend, redact: Redact, token: str,
               port: int) -> tuple[str | None, str]:
    try:
        sock = _bind(port)
    except OSError as err:
        taken = f"port {port} on 127.0.0.1 is in use{ports.holder(port)}" if port else f"no free port: {err.strerror}"
        return None, (f"no dashboard: {taken}; choose another with `devstack up --web-port N` or [dashboard] port "
                      "in devstack.toml (devstack goes on without it)")
    port = sock.getsockname()[1]
    runner = await _runner(runners, app.application(backend, guard.Guard(token, port), redact))
    await web.SockSite(runner, sock).start()
    return f"http://127.0.0.1:{port}/?{guard.TOKEN_QUERY}={token}", ""


def _bind(port: int) -> socket.socket:
    """The listening socket, bound before the app is made: the guard must know the port (0 picks one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
