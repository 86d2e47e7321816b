"""The last messages the sink took, whole or up to a byte budget, for /captured and its search.

Capture is off unless asked for (`--capture N`). Memory is bounded twice: at most N messages, and at most
`budget` bytes of message data across them (the oldest go first); one message keeps at most the whole
budget, and says when it was cut (`truncated`). Messages are stored raw and parsed only when someone asks.
"""

from __future__ import annotations

import collections
import dataclasses
import email.parser
import email.policy
import time
from collections.abc import Iterable
from typing import Any

HEADER_END = b"\r\n\r\n"
# What a search may ask for, and the field of a summary each one looks in.
FILTERS = ("sender", "recipient", "subject", "message_id", "q")


@dataclasses.dataclass(frozen=True)
class Envelope:
    id: str  # the queue id of the 250 reply ("queued as ..."), also for refused messages
    received_at: float
    peer: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    size: int
    reply: str
    data: bytes  # the message as it came, dot-stuffed, up to the budget

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.size

    def summary(self) -> dict[str, Any]:
        headers = parse_headers(self.data)
        return {
            "id": self.id,
            "received_at": self.received_at,
            "peer": self.peer,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "size": self.size,
            "reply": self.reply,
            "truncated": self.truncated,
            "subject": first(headers, "subject"),
            "message_id": first(headers, "message-id"),
            "headers": headers,
        }

    def full(self) -> dict[str, Any]:
        return self.summary() | {"body": body_text(self.data)}


class Capture:
    def __init__(self, size: int, budget: int) -> None:
        self.size, self.budget = size, budget
        self._items: collections.deque[Envelope] = collections.deque()
        self._bytes = 0

    @property
    def keep_bytes(self) -> int:
        """How many leading bytes of each message the DATA reader should keep for us."""
        return self.budget if self.size else 0

    def record(self, envelope: Envelope) -> None:
        if not self.size:
            return
        self._items.append(envelope)
        self._bytes += len(envelope.data)
        while len(self._items) > self.size or self._bytes > self.budget:
            self._bytes -= len(self._items.popleft().data)

    def reset(self) -> None:
        self._items.clear()
        self._bytes = 0

    def search(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """Summaries (no bodies) of the messages that match every filter of `query`, oldest first."""
        summaries = (item.summary() for item in self._items)
        return [s for s in summaries if matches(s, query)]

    def find(self, message_id: str) -> Envelope | None:
        return next((item for item in self._items if item.id == message_id), None)


def matches(summary: dict[str, Any], query: dict[str, str]) -> bool:
    """Case-insensitive substring filters: sender, recipient (any of them), subject, message_id, and q (any)."""
    fields = {"sender": [summary["mail_from"]], "recipient": summary["rcpt_tos"],
              "subject": [summary["subject"]], "message_id": [summary["message_id"]]}
    for key, wanted in query.items():
        needle = wanted.strip().lower()
        haystack = [v for values in fields.values() for v in values] if key == "q" else fields.get(key, [])
        if needle and not any(needle in value.lower() for value in haystack):
            return False
    return True


def first(headers: list[list[str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name), "")


def unstuff(data: bytes) -> bytes:
    """Undo SMTP dot-stuffing (RFC 5321 4.5.2)."""
    return data.replace(b"\r\n..", b"\r\n.").removeprefix(b".")


def parse_headers(data: bytes) -> list[list[str]]:
    """Header fields as [name, value] pairs in order, unfolded; the message's head only."""
    end = data.find(HEADER_END)
    block = data[: end + 2] if end >= 0 else data[: data.rfind(b"\r\n") + 2]
    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(unstuff(block))
    return [[name, " ".join(str(value).split())] for name, value in message.items()]


def body_text(data: bytes) -> str:
    """What follows the header block, as text (undecodable bytes replaced); "" when the head was all we kept."""
    end = data.find(HEADER_END)
    return "" if end < 0 else unstuff(data[end + len(HEADER_END) - 2 :])[2:].decode("utf-8", "replace")


def merge(lists: Iterable[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    """The newest `limit` records across workers, oldest first."""
    records = sorted((r for records in lists for r in records), key=lambda r: float(r["received_at"]))
    return records[-limit:] if limit else []


def envelope(id: str, peer: str, mail_from: str, rcpt_tos: Iterable[str], size: int, reply: str,
             data: bytes) -> Envelope:
    return Envelope(id, time.time(), peer, mail_from, tuple(rcpt_tos), size, reply, data)
