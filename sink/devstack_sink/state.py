"""Everything one worker knows, and the requests the HTTP side can make of it.

The same `handle` answers whether the worker runs in the HTTP process (one worker) or in a child
process behind a control socket (several workers): see fleet.py.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
from typing import Any

from devstack_sink import capture, faults
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
    def new(cls, index: int, rules: tuple[Rule, ...], capture_size: int, capture_bytes: int = 0) -> WorkerState:
        return cls(index, Stats(), FaultBook(rules), Capture(capture_size, capture_bytes))

    def next_queue_id(self) -> str:
        """An id for the 250 reply, so that MTA logs can be matched with /captured (refused messages get one
        too, for their captured record)."""
        return f"{self.index:X}{next(self._sequence):07X}"


class RequestError(ValueError):
    """A control request this worker cannot carry out."""


def handle(worker: WorkerState, request: dict[str, Any]) -> dict[str, Any]:
    """Answer one control request: {"op": "stats" | "reset" | "faults" | "set_faults" | "captured" | "message"}."""
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
        return {"messages": worker.capture.search(dict(request.get("query") or {}))}
    if op == "message":
        found = worker.capture.find(str(request.get("id")))
        if found is None:
            return {"message": None}
        return {"message": found.full(), "raw": base64.b64encode(capture.unstuff(found.data)).decode()}
    raise RequestError(f"unknown control request {op!r}")
