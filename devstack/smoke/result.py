"""What a smoke test reports: pass or fail, how long it took, and on failure what was expected and what came."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    name: str
    type: str
    ok: bool
    seconds: float
    summary: str  # one line: what was checked and measured
    expected: str = ""
    got: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # e.g. inject, delivery (seconds)
    logs: list[str] = field(default_factory=list)  # the last log lines of the resources at fault, on failure

    def line(self) -> str:
        timing = " · ".join(f"{k} {v * 1000:.0f}ms" for k, v in self.timings.items())
        detail = f" · {timing}" if timing else ""
        head = f"{self.name} ({self.type})"
        if self.ok:
            return f"{head}: {self.summary}{detail} ({self.seconds:.2f}s)"
        return f"{head}: FAILED after {self.seconds:.2f}s: expected {self.expected}, got {self.got}"
