"""Counters of one worker, and how the snapshots of several workers add up.

Counters are plain attributes incremented on the hot path; a worker is single-threaded, so no lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

# Monotonic totals, in the order /stats and /metrics show them, with their help text.
COUNTERS: Final = {
    "connections": "SMTP connections accepted",
    "messages": "messages accepted (250 after DATA)",
    "recipients": "recipients accepted (250 after RCPT)",
    "bytes": "bytes of message data received, accepted or not",
    "rejected": "commands answered with a 4xx or 5xx reply",
    "faults": "fault rules applied",
    "garbage_lines": "unknown commands, empty or non-ASCII command lines",
    "long_lines": "command lines or message lines over the RFC 5321 limit",
    "early_disconnects": "connections closed by the client without QUIT",
    "pipelined_commands": "commands that arrived before the previous reply was sent",
    "oversize_messages": "messages over the size limit (read, discarded, refused)",
}
GAUGES: Final = {"connections_active": "SMTP connections open now"}
# A bounded map: a load test with random domains must not grow memory without limit.
MAX_DOMAINS = 1000
TOP_DOMAINS = 20
OTHER_DOMAINS = "(other)"


class Stats:
    def __init__(self) -> None:
        self.connections_active = 0
        self.reset()

    def reset(self) -> None:
        """Zero the totals; open connections stay counted in the gauge."""
        self.connections = self.messages = self.recipients = self.bytes = 0
        self.rejected = self.faults = self.garbage_lines = self.long_lines = 0
        self.early_disconnects = self.pipelined_commands = self.oversize_messages = 0
        self.domains: dict[str, int] = {}
        self.started = time.time()

    def count_recipient(self, address: str) -> None:
        self.recipients += 1
        domain = address.rpartition("@")[2].lower() or "(none)"
        domains = self.domains
        if domain in domains:
            domains[domain] += 1
        elif len(domains) < MAX_DOMAINS:
            domains[domain] = 1
        else:
            domains[OTHER_DOMAINS] = domains.get(OTHER_DOMAINS, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        values: dict[str, Any] = {name: getattr(self, name) for name in (*COUNTERS, *GAUGES)}
        values["domains"] = dict(self.domains)
        values["since"] = self.started
        return values


def merge(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum the workers' snapshots; keep the top recipient domains of the sum."""
    total: dict[str, Any] = dict.fromkeys((*COUNTERS, *GAUGES), 0)
    domains: dict[str, int] = {}
    since = time.time()
    for snap in snapshots:
        for name in (*COUNTERS, *GAUGES):
            total[name] += int(snap.get(name, 0))
        for domain, count in snap.get("domains", {}).items():
            domains[domain] = domains.get(domain, 0) + count
        since = min(since, float(snap.get("since", since)))
    total["domains"] = dict(sorted(domains.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_DOMAINS])
    total["since"] = since
    total["elapsed_seconds"] = round(time.time() - since, 3)
    return total
