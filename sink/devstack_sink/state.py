"""Everything one worker knows, and the requests the HTTP side can make of it.

The same `handle` answers whether the worker runs in the HTTP process (one worker) or in a child
process behind a control socket (several workers): see fleet.py.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from devstack_sink import faults
from devstack_sink.capture import Capture
from devstack_sink.faults import FaultBook, Rule
from devstack_sink.stats import Stats


@dataclasses.dataclass
class WorkerState:
    index: int
    stats: Stats
    faults: FaultBook
    capture: Capture
    _sequence: itertools.count[int] = dataclasses.field(default_factory=lambda: itertools.count(1))

    @classmethod
    def new(cls, index: int, rules: tuple[Rule, ...], capture_size: int) -> WorkerState:
        return cls(index, Stats(), FaultBook(rules), Capture(capture_size))

    def next_queue_id(self) -> str:
        """An id for the 250 reply, so that MTA logs can be matched with /captured."""
        return f"{self.index:X}{next(self._sequence):07X}"


class RequestError(ValueError):
    """A control request this worker cannot carry out."""


def handle(worker: WorkerState, request: dict[str, Any]) -> dict[str, Any]:
    """Answer one control request: {"op": "stats" | "reset" | "faults" | "set_faults" | "captured"}."""
    op = request.get("op")
    if op == "stats":
        return worker.stats.snapshot()
    if op == "reset":
        worker.stats.reset()
        worker.capture.reset()
        return {"reset": True}
    if op == "faults":
        return {"hits": list(worker.faults.hits)}
    if op == "set_faults":
        worker.faults.replace(faults.rule_from_json(r) for r in request.get("rules", []))
        return {"hits": list(worker.faults.hits)}
    if op == "captured":
        return {"messages": worker.capture.snapshot()}
    raise RequestError(f"unknown control request {op!r}")
