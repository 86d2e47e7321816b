"""How clients find and call the running daemon: its API (app.py) on a unix socket in the project's state
folder, with a token per run.

`.devstack/daemon.json` (mode 0600) tells clients the pid, socket, token and the dashboard's address. A lock file
makes a second `up` of the same project fail with a clear message instead of two daemons fighting over one stack.

The lock is also the truth of whether a daemon runs: it is held from before the socket exists until the process
has exited, and the kernel releases it when the process dies (a pid in daemon.json may be dead, a zombie, or
still alive with its socket already closed). So a dead or dying daemon never looks like a running one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from devstack import blocking
from devstack.config.model import Config
from devstack.errors import DaemonNotServing, DevstackError

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
_LOCK_TRIES = 20  # × 10 ms: a client's probe (running()) holds the lock for microseconds, never longer

@dataclass(frozen=True)
class Endpoint:
    pid: int
    socket: str
    token: str
    dashboard: str | None = None  # its address with the token, when it is served


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


@contextlib.contextmanager
def published(config: Config, endpoint: Endpoint) -> Iterator[None]:
    """Tell clients where the daemon listens, for as long as the block runs."""
    path = info_file(config)
    path.touch(mode=0o600)
    path.write_text(json.dumps(asdict(endpoint)))
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def find(config: Config) -> Endpoint | None:
    """The running daemon of this project, if there is one: the daemon.json a dead daemon left behind is ignored
    (its lock is free). A daemon on its way out may still be found; it refuses the call (DaemonNotServing)."""
    try:
        data = json.loads(info_file(config).read_text())
        endpoint = Endpoint(pid=int(data["pid"]), socket=str(data["socket"]), token=str(data["token"]),
                            dashboard=data.get("dashboard"))
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
