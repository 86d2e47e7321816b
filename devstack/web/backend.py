"""What the HTTP side needs of the daemon, as protocols: the web package knows no engine, board or provider. The
daemon hands in an object that has these (engine/dashboard.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

# One log line: (sequence number, Unix time it came, resource, source (a container or pod, "" when unknown), text).
LogLine = tuple[int, float, str, str, str]


class Logs(Protocol):
    def since(self, after: int, limit: int) -> tuple[list[LogLine], int]:
        """The newest `limit` lines numbered above `after`, oldest first, and how many lines above `after` are
        not among them (left out by `limit`, or already dropped to keep each resource's lines bounded)."""
        ...

    def matching(self, needles: Sequence[str]) -> list[LogLine]:
        """Every kept line that contains one of `needles`, oldest first."""
        ...


class Backend(Protocol):
    @property
    def logs(self) -> Logs: ...

    @property
    def sink(self) -> str | None:
        """The sink's HTTP API root, for the mail view; None when the project names none."""
        ...

    def state(self) -> dict[str, Any]:
        """The board as JSON: project, provider, phase, error, and one entry per resource."""
        ...

    def smoke_runs(self) -> list[dict[str, Any]]:
        """The latest smoke runs, oldest first, each with its tests' results."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """`devstack snapshot`: the board, what the daemon printed, the latest smoke results."""
        ...

    def trigger(self, resource: str) -> None:
        """Rebuild and restart `resource`; raise LookupError (its message names what exists) for an unknown one."""
        ...

    def run_smoke(self) -> None:
        """Run the smoke tests now, as the next step of the loop."""
        ...

    def run_command(self, name: str) -> None:
        """Run one of the [[commands]] (its output goes to its resource's log); LookupError for an unknown one."""
        ...

    def switch(self, resource: str, *, enable: bool) -> None:
        """Enable or disable a resource for the project (`devstack enable` / `disable`); LookupError if unknown."""
        ...

    def set_trigger_mode(self, resource: str, mode: str) -> None:
        """Switch `resource` to auto or manual trigger mode, or reset it to devstack.toml's (`mode` "reset"); kept
        for the project. LookupError for an unknown resource, ValueError for an unknown mode."""
        ...

    def reconfigure(self) -> None:
        """The project's choice of disabled resources changed (the CLI wrote it): apply it."""
        ...

    def stop(self) -> None:
        """Stop watching (`devstack down`); the stack keeps running."""
        ...


Redact = Callable[[str], str]  # scrubs every dev secret value from a text on its way out
BACKEND = web.AppKey("backend", Backend)
REDACT: web.AppKey[Redact] = web.AppKey("redact")


def reply(request: web.Request, data: Any, status: int = 200) -> web.Response:
    """A JSON answer, scrubbed of every dev secret value."""
    text = request.app[REDACT](json.dumps(data))
    return web.Response(text=text, status=status, content_type="application/json")


def error(request: web.Request, status: int, message: str) -> web.Response:
    return reply(request, {"error": message}, status)
