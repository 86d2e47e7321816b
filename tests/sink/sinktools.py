"""Real sinks for the tests: in a thread of this process (one worker), or as `python -m devstack_sink`.

Tests talk to them like users do: smtplib, raw sockets, urllib. Ports are always picked by the OS.
(A plain module beside conftest.py, so that test modules can import these names.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack_sink import loops, service
from devstack_sink.options import Address, SinkOptions

SINK_ROOT = Path(__file__).resolve().parents[2] / "sink"
ANY_PORT = Address("127.0.0.1", 0)


@dataclasses.dataclass
class Sink:
    smtp_port: int
    http_port: int

    def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, parsed JSON or text) of one HTTP request to the sink."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, _decode(response.read(), response.headers.get_content_type())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read(), error.headers.get_content_type())

    def stats(self) -> dict[str, Any]:
        status, document = self.http("GET", "/stats")
        assert status == 200
        return dict(document)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.smtp_port), timeout=10)
        assert sock.recv(1024).startswith(b"220 ")
        return sock


def _decode(body: bytes, content_type: str) -> Any:
    return json.loads(body) if content_type == "application/json" else body.decode()


class ThreadSink(Sink):
    """The whole sink on its own event loop in a background thread, stopped at teardown."""

    def __init__(self, options: SinkOptions) -> None:
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=loops.run, args=(self._main(options),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the sink did not start"
        if self._error is not None:
            raise self._error

    async def _main(self, options: SinkOptions) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with service.running(options) as running:
                self.smtp_port, self.http_port = running.smtp.port, running.http.port
                self._ready.set()
                await self._stop.wait()
        except BaseException as error:
            self._error = error
            self._ready.set()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


class ProcessSink(Sink):
    """`python -m devstack_sink ARGS`, as `devstack sink` and the container run it."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack_sink", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(env),
        )
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()  # "devstack-sink: smtp H:P http H:P workers N loop L"
        assert banner.startswith("devstack-sink: smtp "), self.process.communicate(timeout=10)
        words = banner.split()
        self.smtp_port, self.http_port = int(words[2].rpartition(":")[2]), int(words[4].rpartition(":")[2])
        self.banner = banner

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=15)
        return self.process.returncode, stderr


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SINK_ROOT), env.get("PYTHONPATH")]))
    return env | (extra or {})


SinkFactory = Callable[..., ThreadSink]
