"""One SMTP worker: a server on the (shared) SMTP port, plus, in a child process, a control socket
over which the parent asks for stats, resets and new fault rules (JSON, one object per line).

Started by processes.py as `python3 -m devstack_sink.workers CONTROL_FD CONFIG_JSON`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import socket
import sys
from typing import Any

from devstack_sink import faults, handler, loops, smtp, sockets, state
from devstack_sink.options import Address, SinkOptions

# Control messages are trusted and can be large (captured messages): no small line limit.
CONTROL_LIMIT = 256 * 2**20


class StartError(RuntimeError):
    """The SMTP side could not start (the port is taken, a worker failed)."""


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    index: int
    listen: Address
    hostname: str
    max_size: int
    capture: int
    capture_bytes: int  # this worker's share of the budget
    rules: tuple[faults.Rule, ...]

    @classmethod
    def of(cls, options: SinkOptions, index: int, listen: Address, rules: tuple[faults.Rule, ...]) -> WorkerConfig:
        share = options.capture_bytes // options.workers
        return cls(index, listen, options.hostname, options.max_size, options.capture, share, rules)

    def to_json(self) -> str:
        fields = dataclasses.asdict(self) | {"rules": [r.to_json() for r in self.rules]}
        return json.dumps(fields | {"listen": dataclasses.asdict(self.listen)})

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        fields = json.loads(text)
        fields["listen"] = Address(**fields["listen"])
        fields["rules"] = tuple(faults.rule_from_json(r) for r in fields["rules"])
        return cls(**fields)


async def serve_smtp(sock: socket.socket, worker: state.WorkerState, config: WorkerConfig) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    events = handler.SinkHandler(worker)
    protocol = smtp.SinkSMTP.factory(events, hostname=config.hostname, max_size=config.max_size, loop=loop)
    return await loop.create_server(protocol, sock=sock)


async def _answer_parent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, worker: state.WorkerState) -> None:
    """Serve control requests until the parent closes its end (or dies)."""
    while line := await reader.readline():
        try:
            answer: dict[str, Any] = state.handle(worker, json.loads(line))
        except (ValueError, TypeError) as error:  # faults.RuleError and state.RequestError included
            answer = {"error": str(error)}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.setblocking(True)
    control.sendall(json.dumps(message).encode() + b"\n")
    control.setblocking(False)


async def run_worker(control: socket.socket, config: WorkerConfig) -> int:
    worker = state.WorkerState.new(config.index, config.rules, config.capture, config.capture_bytes)
    try:
        server = await serve_smtp(sockets.listen(config.listen, reuse_port=True), worker, config)
    except OSError as error:
        _send(control, {"error": f"cannot listen on {config.listen}: {error.strerror}"})
        return 1
    _send(control, {"ready": True, "loop": loops.name(asyncio.get_running_loop())})
    reader, writer = await asyncio.open_connection(sock=control, limit=CONTROL_LIMIT)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
    parent = asyncio.create_task(_answer_parent(reader, writer, worker))
    stop = asyncio.create_task(stopped.wait())
    await asyncio.wait({parent, stop}, return_when=asyncio.FIRST_COMPLETED)
    server.close()
    for task in (parent, stop):
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await parent  # a crash in the control loop shows here rather than as "exception never retrieved"
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="devstack-sink[worker]: %(message)s", stream=sys.stderr)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    control = socket.socket(fileno=int(argv[0]))
    return loops.run(run_worker(control, WorkerConfig.from_json(argv[1])))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
