"""The last N envelopes with their headers, for /captured; bodies are never kept.

Memory is bounded twice: at most N records, and at most MAX_HEADER_BYTES of header per record.
Headers are stored raw and parsed only when someone asks for them.
"""

from __future__ import annotations

import collections
import dataclasses
import email.parser
import email.policy
import time
from collections.abc import Iterable
from typing import Any

MAX_HEADER_BYTES = 16 * 1024
HEADER_END = b"\r\n\r\n"


@dataclasses.dataclass(frozen=True)
class Envelope:
    received_at: float
    peer: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    size: int
    reply: str
    head: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at,
            "peer": self.peer,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "size": self.size,
            "reply": self.reply,
            "headers": parse_headers(self.head),
        }


class Capture:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: collections.deque[Envelope] = collections.deque(maxlen=max(size, 1))

    @property
    def header_budget(self) -> int:
        """How many leading bytes of each message the DATA reader should keep for us."""
        return MAX_HEADER_BYTES if self.size else 0

    def record(self, peer: str, mail_from: str, rcpt_tos: Iterable[str], size: int, reply: str, head: bytes) -> None:
        if self.size:
            self._items.append(Envelope(time.time(), peer, mail_from, tuple(rcpt_tos), size, reply, head))

    def reset(self) -> None:
        self._items.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        return [item.to_json() for item in self._items]


def parse_headers(head: bytes) -> list[list[str]]:
    """Header fields as [name, value] pairs in order, unfolded; the message's head only."""
    end = head.find(HEADER_END)
    block = head[: end + 2] if end >= 0 else head[: head.rfind(b"\r\n") + 2]
    # Undo SMTP dot-stuffing (RFC 5321 4.5.2) on the lines we show.
    block = block.replace(b"\r\n..", b"\r\n.").removeprefix(b".")
    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(block)
    return [[name, " ".join(str(value).split())] for name, value in message.items()]


def merge(lists: Iterable[list[dict[str, Any]]], size: int) -> list[dict[str, Any]]:
    """The newest `size` records across workers, oldest first."""
    records = sorted((r for records in lists for r in records), key=lambda r: float(r["received_at"]))
    return records[-size:] if size else []
