"""The daemon's local control API: HTTP on a unix socket in the project's state folder, with a token per run.

    GET  /status             the board: every resource's build, deploy, ready and smoke state
    POST /trigger/RESOURCE   rebuild and restart RESOURCE
    POST /stop               stop watching (the stack keeps running)

`.devstack/daemon.json` (mode 0600) tells clients the pid, socket and token. A lock file makes a second `up`
of the same project fail with a clear message instead of two daemons fighting over one stack.

The lock is also the truth of whether a daemon runs: it is held from before the socket exists until the process
has exited, and the kernel releases it when the process dies (a pid in daemon.json may be dead, a zombie, or
still alive with its socket already closed). So a dead or dying daemon never looks like a running one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from devstack import blocking
from devstack.config.model import Config
from devstack.config.secret_store import redact
from devstack.errors import DaemonNotServing, DevstackError

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
_MAX_REQUEST = 64 * 1024
_LOCK_TRIES = 20  # × 10 ms: a client's probe (running()) holds the lock for microseconds, never longer

Route = Callable[[str, str], tuple[int, dict[str, Any]]]  # (method, path) → (status, body)


@dataclass(frozen=True)
class Endpoint:
    pid: int
    socket: str
    token: str


def info_file(config: Config) -> Path:
    return config.state_dir / "daemon.json"


def socket_path(config: Config) -> Path:
    path = config.state_dir / "daemon.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"devstack-{digest}.sock"


def lock(config: Config) -> TextIO:
    """Hold the project's daemon lock for as long as the returned file stays open."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    handle = _lock_file(config).open("a+")
    for _ in range(_LOCK_TRIES):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            blocking.sleep(0.01)
    handle.close()
    running = find(config)
    pid = f" (pid {running.pid})" if running else ""
    raise DevstackError(f"devstack up is already running for project '{config.project}'{pid}: use "
                        "`devstack status`, `devstack logs`, or stop it with Ctrl-C or `devstack down`")


def running(config: Config) -> bool:
    """Whether a daemon of this project is alive, or still on its way out: someone holds its lock."""
    try:
        handle = _lock_file(config).open("r")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False  # closing the file releases the probe's own lock


def _lock_file(config: Config) -> Path:
    return config.state_dir / "daemon.lock"


class Server:
    def __init__(self, config: Config, route: Route) -> None:
        self.config, self.route = config, route
        self.token = secrets.token_urlsafe(24)
        self.path = socket_path(config)

    async def serve(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = await asyncio.start_unix_server(self._handle, path=str(self.path))
        os.chmod(self.path, 0o600)
        self._write_info()
        try:
            async with server:
                await server.serve_forever()
        finally:
            with contextlib.suppress(FileNotFoundError):
                info_file(self.config).unlink()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _write_info(self) -> None:
        path = info_file(self.config)
        path.touch(mode=0o600)
        path.write_text(json.dumps({"pid": os.getpid(), "socket": str(self.path), "token": self.token}))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._answer(reader)
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, body = 400, {"error": "malformed request"}
        payload = redact(json.dumps(body)).encode()  # what a client reads is output too: no secret in it
        writer.write(f"HTTP/1.1 {status} -\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                     "connection: close\r\n\r\n".encode() + payload)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        method, target, _version = (await reader.readline()).decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if length > _MAX_REQUEST:
            return 413, {"error": "request too large"}
        await reader.readexactly(length)
        if not secrets.compare_digest(headers.get("authorization", ""), f"Bearer {self.token}"):
            return 401, {"error": "missing or wrong token"}
        return self.route(method, target)


def find(config: Config) -> Endpoint | None:
    """The running daemon of this project, if there is one: the daemon.json a dead daemon left behind is ignored
    (its lock is free). A daemon on its way out may still be found; it refuses the call (DaemonNotServing)."""
    try:
        data = json.loads(info_file(config).read_text())
        endpoint = Endpoint(pid=int(data["pid"]), socket=str(data["socket"]), token=str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(endpoint.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    return endpoint if running(config) else None


def call(endpoint: Endpoint, method: str, path: str, timeout_s: float = 10) -> dict[str, Any]:
    transport = httpx.HTTPTransport(uds=endpoint.socket)
    try:
        with httpx.Client(transport=transport, timeout=timeout_s) as client:
            response = client.request(method, f"http://devstack{path}",
                                      headers={"authorization": f"Bearer {endpoint.token}"})
    except httpx.ConnectError as err:
        # No one listens on the socket any more: the daemon is stopping, or died a moment ago.
        raise DaemonNotServing(f"the devstack daemon (pid {endpoint.pid}) is not serving: {err}") from None
    except httpx.HTTPError as err:
        raise DevstackError(f"the devstack daemon (pid {endpoint.pid}) did not answer: {err}") from None
    body: dict[str, Any] = response.json()
    if response.status_code >= 400:
        raise DevstackError(f"the devstack daemon refused: {body.get('error', response.status_code)}")
    return body
