"""The latest log lines of every resource, numbered, for the dashboard and its searches.

Bounded per resource (a chatty service drops its own oldest lines, never a quiet one's) and per line. The log
followers write from their threads; the dashboard reads on the event loop: a lock keeps them apart, held for an
append or a copy, never across I/O.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Sequence

# (number, Unix time it came, resource, source (container or pod; "" when the provider does not say), text)
Line = tuple[int, float, str, str, str]

PER_RESOURCE = 2_000
LINE_CHARS = 4_000  # a longer line is cut, and says so


class LogBook:
    def __init__(self, per_resource: int = PER_RESOURCE, line_chars: int = LINE_CHARS) -> None:
        self.per_resource, self.line_chars = per_resource, line_chars
        self._lines: dict[str, collections.deque[Line]] = {}
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many lines ever came (the number of the latest)."""
        return self._count

    def add(self, resource: str, text: str, source: str = "", at: float | None = None) -> None:
        """One line; `at` is when the engine says it was written (Unix time), else now."""
        if len(text) > self.line_chars:
            text = f"{text[: self.line_chars]}… ({len(text) - self.line_chars} more characters)"
        with self._lock:
            lines = self._lines.get(resource)
            if lines is None:
                lines = self._lines[resource] = collections.deque(maxlen=self.per_resource)
            self._count += 1
            lines.append((self._count, time.time() if at is None else at, resource, source, text))

    def since(self, after: int, limit: int) -> tuple[list[Line], int]:
        """The newest `limit` lines numbered above `after`, oldest first, and how many above `after` are not
        among them (left out by `limit`, or dropped by the bound)."""
        with self._lock:
            newer = [line for lines in self._lines.values() for line in _after(lines, after)]
            total = self._count - after
        newer.sort()
        kept = newer[-limit:] if limit else []
        return kept, max(total, 0) - len(kept)

    def matching(self, needles: Sequence[str]) -> list[Line]:
        """Every kept line that contains one of `needles` (case-insensitively), oldest first."""
        wanted = [n.lower() for n in needles if n]
        with self._lock:
            lines = [line for lines in self._lines.values() for line in lines]
        return sorted(line for line in lines if any(n in line[4].lower() for n in wanted))


def _after(lines: collections.deque[Line], after: int) -> list[Line]:
    """The lines numbered above `after`, read from the newest end (a tick asks for a few of many)."""
    found: list[Line] = []
    for line in reversed(lines):
        if line[0] <= after:
            break
        found.append(line)
    found.reverse()
    return found
