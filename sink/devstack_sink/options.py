"""What one sink run is configured with: addresses, worker count, limits, fault rules, capture."""

from __future__ import annotations

import dataclasses
import os

from devstack_sink import faults

DEFAULT_LISTEN = "127.0.0.1:2525"
DEFAULT_HTTP = "127.0.0.1:8025"
# aiosmtpd's own default (32 MiB): advertised in EHLO SIZE; larger messages are read, discarded and refused.
DEFAULT_MAX_SIZE = 2**25
# What captured messages may hold in all (the oldest go first), when capture is on.
DEFAULT_CAPTURE_BYTES = 16 * 2**20
MAX_WORKERS = 64
AUTO_WORKERS = 4


class OptionError(ValueError):
    """A flag or environment value that cannot be used; the message names it and says what was expected."""


@dataclasses.dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class SinkOptions:
    listen: Address = dataclasses.field(default_factory=lambda: parse_address(DEFAULT_LISTEN, "--listen"))
    http: Address = dataclasses.field(default_factory=lambda: parse_address(DEFAULT_HTTP, "--http"))
    workers: int = 1
    rules: tuple[faults.Rule, ...] = ()
    capture: int = 0
    capture_bytes: int = DEFAULT_CAPTURE_BYTES
    max_size: int = DEFAULT_MAX_SIZE
    hostname: str = "devstack-sink"


def parse_address(text: str, flag: str) -> Address:
    """HOST:PORT, [IPv6]:PORT or :PORT (all interfaces); port 0 picks a free port."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise OptionError(f"{flag}: expected HOST:PORT (e.g. 127.0.0.1:2525), got {text!r}")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return Address(host, int(port_text))


def parse_count(text: str, flag: str, *, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise OptionError(f"{flag}: expected a whole number from {low} to {high}, got {text!r}")
    return value


def parse_workers(text: str, flag: str) -> int:
    """A count, or "auto": one worker per CPU, at most AUTO_WORKERS (the load generator and the MTA
    under test need CPU too, and each worker is a Python process of ~25 MB)."""
    if text.strip().lower() == "auto":
        return max(1, min(AUTO_WORKERS, len(os.sched_getaffinity(0))))
    return parse_count(text, flag, low=1, high=MAX_WORKERS)
