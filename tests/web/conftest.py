"""The daemon's HTTP side served for real (aiohttp on a unix socket and on 127.0.0.1), in a thread of its own, with
a backend in memory in place of the engine: these tests are about who may call, not about the dev loop (tests/
browser runs the whole daemon)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from devstack_sink import service
from devstack_sink.options import Address, SinkOptions

from devstack.config import secret_store
from devstack.observe.logbook import LogBook
from devstack.web import serve

TOKEN = "the-right-token-of-this-run"
# Stands for a dev secret's value: it must never leave the server, as written or as JSON escapes it.
CANARY = 'canary-Zq8"v3\\Kp1Wm'



@dataclass
class MemoryBackend:
    """What the daemon offers the HTTP side, held in memory; records what it was asked."""

    logs: LogBook = field(default_factory=LogBook)
    sink: str | None = None
    asked: list[str] = field(default_factory=list)
    board: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return self.board

    def smoke_runs(self) -> list[dict[str, Any]]:
        return self.runs

    def snapshot(self) -> dict[str, Any]:
        return {"status": self.board, "output": [], "smoke": []}

    def trigger(self, resource: str) -> None:
        if resource not in {r["name"] for r in self.board.get("resources", [])}:
            raise LookupError(f"no resource named {resource!r}")
        self.asked.append(f"trigger {resource}")

    def run_smoke(self) -> None:
        self.asked.append("smoke")

    def run_command(self, name: str) -> None:
        if name != "relay":
            raise LookupError(f"no command named {name!r}")
        self.asked.append(f"command {name}")

    def switch(self, resource: str, *, enable: bool) -> None:
        self.trigger(resource)  # the same check of the name
        self.asked[-1] = f"{'enable' if enable else 'disable'} {resource}"

    def set_trigger_mode(self, resource: str, mode: str) -> None:
        if mode not in ("auto", "manual", "reset"):
            raise ValueError(f"no trigger mode {mode!r}")
        self.trigger(resource)  # the same check of the name
        self.asked[-1] = f"{mode} {resource}"

    def reconfigure(self) -> None:
        self.asked.append("reconfigure")

    def stop(self) -> None:
        self.asked.append("stop")


@dataclass
class Served:
    backend: MemoryBackend
    socket: Path
    port: int
    url: str | None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ServerThread:
    """The HTTP side on its own event loop; with `sink`, a real sink (capture on) on the same loop, whose HTTP API
    the backend names."""

    def __init__(self, backend: MemoryBackend, socket: Path, port: int | None, secrets: Sequence[str],
                 sink: bool = False) -> None:
        self.backend, self.socket, self.port, self.secrets, self.sink = backend, socket, port, secrets, sink
        self.smtp_port = 0
        self.listening: serve.Listening | None = None
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    def __enter__(self) -> serve.Listening:
        self._thread.start()
        assert self._ready.wait(10), "the server did not start"
        assert self.listening is not None
        return self.listening

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _main(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self.sink:
                options = SinkOptions(listen=Address("127.0.0.1", 0), http=Address("127.0.0.1", 0), capture=50)
                sink = await stack.enter_async_context(service.running(options))
                self.smtp_port, self.backend.sink = sink.smtp.port, f"http://127.0.0.1:{sink.http.port}"
            await self._serve()

    async def _serve(self) -> None:
        redact = secret_store.Redactor(self.secrets)
        async with serve.listening(self.backend, redact, TOKEN, self.socket, self.port) as listening:
            self.listening = listening
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.02)


def board(*names: str) -> dict[str, Any]:
    return {"project": "demo", "provider": "swarm", "phase": "watching", "error": "", "working": False,
            "smoke": {"runs": 0, "running": False},
            "resources": [{"name": n, "group": "demo", "kind": "service", "ready": True, "build": "ok",
                           "deploy": "ok", "smoke": "ok", "reason": "", "image": f"{n}:1", "since": 0,
                           "endpoints": [], "cycle": None} for n in names]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    backend = MemoryBackend(board=board("relay", "sink"))
    with ServerThread(backend, tmp_path_factory.mktemp("web") / "daemon.sock", 0, [CANARY]) as listening:
        assert listening.url is not None
        port = int(listening.url.split(":")[2].split("/")[0])
        yield Served(backend, listening.socket, port, listening.url)


@pytest.fixture
def served(server: Served) -> Served:
    """The module's server, with nothing asked of its backend yet."""
    server.backend.asked.clear()
    return server
