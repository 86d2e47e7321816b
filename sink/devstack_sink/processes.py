"""Several workers as child processes on one SMTP port (SO_REUSEPORT), each with a control socket.

A child that dies is started again with the current fault rules; its counts are lost, and the log
says so. A child whose control socket closes (the parent died) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from devstack_sink import faults, sockets, workers
from devstack_sink.options import Address, SinkOptions
from devstack_sink.workers import StartError

log = logging.getLogger(__name__)
START_TIMEOUT = 15.0  # a child imports aiosmtpd and binds in well under a second, unless the host crawls
ASK_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
RESPAWN_DELAY = 1.0
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class _Child:
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:  # one request in flight per child keeps the answers in order
            self.writer.write(json.dumps(request).encode() + b"\n")
            await self.writer.drain()
            try:
                line = await asyncio.wait_for(self.reader.readline(), ASK_TIMEOUT)
            except TimeoutError:
                # A late answer would be taken for the next one: a hung worker is replaced instead.
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                raise
        if not line:
            raise ConnectionResetError("worker closed its control socket")
        answer: dict[str, Any] = json.loads(line)
        return answer


class ProcessFleet:
    def __init__(self, options: SinkOptions) -> None:
        self.options, self.size, self.rules = options, options.workers, options.rules
        self.children: dict[int, _Child] = {}
        self.stopping = False
        self._watchers: list[asyncio.Task[None]] = []
        self._reserved: socket.socket | None = None

    async def start(self) -> None:
        try:
            self._reserved = sockets.reserve(_free(self.options.listen))
        except OSError as error:
            raise StartError(f"cannot listen on {self.options.listen}: {error.strerror}") from None
        self.smtp = sockets.address_of(self._reserved)
        results = await asyncio.gather(*(self._spawn(i) for i in range(self.size)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self.close()
            raise StartError(str(failures[0]))
        self._watchers = [asyncio.create_task(self._guarded_watch(i)) for i in range(self.size)]

    async def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair()
        config = workers.WorkerConfig.of(self.options, index, self.smtp, self.rules)
        with theirs:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "devstack_sink.workers", str(theirs.fileno()), config.to_json(),
                pass_fds=(theirs.fileno(),), env=_child_env(), stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        reader, writer = await asyncio.open_connection(sock=ours, limit=workers.CONTROL_LIMIT)
        try:
            hello = await _hello(reader)
            if not hello.get("ready"):
                raise StartError(hello.get("error") or f"worker {index} did not start")
        except BaseException:  # cancelled too: leave no worker behind
            writer.close()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        self.children[index] = _Child(process, reader, writer)

    async def _guarded_watch(self, index: int) -> None:
        try:
            await self._watch(index)
        except Exception:  # a bug here would silently stop restarts: say so loudly
            log.exception("supervising worker %d failed; it will not be restarted", index)

    async def _watch(self, index: int) -> None:
        while not self.stopping:
            code = await self.children[index].process.wait()
            if self.stopping:
                return
            log.error("worker %d exited with status %s; starting it again (its counts are lost)", index, code)
            self.children.pop(index).writer.close()
            while index not in self.children and not self.stopping:
                await asyncio.sleep(RESPAWN_DELAY)
                try:
                    await self._spawn(index)
                except StartError as error:
                    log.error("worker %d did not start again: %s", index, error)

    async def ask(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        children = list(self.children.values())
        answers = await asyncio.gather(*(c.ask(request) for c in children), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                log.warning("a worker did not answer %s: %r", request.get("op"), answer)
        return [a for a in answers if isinstance(a, dict)]

    async def set_rules(self, rules: tuple[faults.Rule, ...]) -> None:
        self.rules = rules  # also what a restarted worker gets
        await self.ask({"op": "set_faults", "rules": [r.to_json() for r in rules]})

    def alive(self) -> int:
        return sum(c.process.returncode is None for c in self.children.values())

    async def close(self) -> None:
        self.stopping = True
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*(_stop(c.process) for c in self.children.values()))
        for child in self.children.values():
            child.writer.close()
        if self._reserved is not None:
            self._reserved.close()


def _free(address: Address) -> Address:
    """The port to share: as given, or a free one for port 0. Bound once without SO_REUSEPORT so that
    a port in use is an error here rather than a silent split of the traffic with another program."""
    with sockets.listen(address) as probe:
        return Address(address.host, sockets.address_of(probe).port)


def _child_env() -> dict[str, str]:
    # The package may not be installed where the child looks (a copied image, a source tree).
    path = [str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return os.environ | {"PYTHONPATH": os.pathsep.join(path)}


async def _hello(reader: asyncio.StreamReader) -> dict[str, Any]:
    try:
        hello: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readline(), START_TIMEOUT) or b"{}")
    except (TimeoutError, ValueError):
        return {}
    return hello


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):  # it may have ended since the wait gave up
            process.kill()
        await process.wait()
