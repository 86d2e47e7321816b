"""Where is my message: every place a Message-ID was seen, in time order. Pure functions of what the sink kept,
the daemon's log lines and its smoke runs; mail.py fetches them.

- the smoke test that sent it: an http-inject run whose sender and recipients are the captured message's, and
  during which it arrived;
- every log line of any resource that names it: its Message-ID, the X-KumoRef header KumoMTA added, and (once a
  KumoMTA JSON log record names one of those) that record's spool `id`, which every later record of the
  message carries (a delivery record logs no headers);
- its arrival at the sink, with the sink's reply.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from devstack.web.backend import LogLine

SLACK_S = 5.0  # a message may reach the sink this long after the smoke test that sent it reported
_SPOOL_ID = re.compile(r'"id"\s*:\s*"([0-9a-fA-F]{16,})"')  # a kumod log record's spool id


def same_id(a: str, b: str) -> bool:
    """Message-IDs compare without their angle brackets and case-insensitively."""
    return bare(a).lower() == bare(b).lower() and bool(bare(a))


def bare(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">")


def kumo_ref(headers: Iterable[Sequence[str]]) -> tuple[str, dict[str, Any]] | None:
    """The X-KumoRef header's value and what it decodes to (base64 of JSON with a marker key, the recipient and
    the meta data the policy chose), or None when the message has none."""
    for name, value in headers:
        if name.lower() == "x-kumoref":
            try:
                decoded = json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))
            except (binascii.Error, ValueError):
                return value, {}
            return value, decoded if isinstance(decoded, dict) else {}
    return None


def needles(message_id: str, captured: Sequence[dict[str, Any]]) -> list[str]:
    """What a log line that speaks of the message contains."""
    found = [bare(message_id)]
    for message in captured:
        ref = kumo_ref(message.get("headers", []))
        if ref is not None:
            found.append(ref[0])
            found += [str(v) for k, v in ref[1].items() if k == "id" and v]
    return [n for n in dict.fromkeys(found) if n]


def related_lines(first: Sequence[str], search: Callable[[Sequence[str]], list[LogLine]]) -> list[LogLine]:
    """The lines naming `first`, and those naming a spool id one of them carries (one round: ids name no ids)."""
    lines = search(first)
    spool = [i for line in lines for i in _SPOOL_ID.findall(line[4]) if i not in first]
    if not spool:
        return lines
    return search([*first, *dict.fromkeys(spool)])


def build(message_id: str, captured: Sequence[dict[str, Any]], lines: Sequence[LogLine],
          runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries, oldest first: {t, kind (smoke | log | sink), where, text}."""
    entries = [_arrival(m) for m in captured]
    entries += [{"t": at, "kind": "log", "where": f"{resource}/{source}" if source else resource, "text": text}
                for _, at, resource, source, text in lines]
    senders = {id(pair[1]): pair for m in captured if (pair := _sender(runs, m)) is not None}
    entries += [_sent(run, result) for run, result in senders.values()]
    return sorted(entries, key=lambda e: float(e["t"]))


def _sender(runs: Sequence[dict[str, Any]], message: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The smoke test that sent the message: of those that could have (its sender and recipients, the time of its
    arrival), the one that started last. Runs a few seconds apart both fit a message within the slack; a message
    cannot have come from a test that started after it arrived, so the latest of those fitting is the one."""
    fitting = [(run, result) for run in runs for result in run.get("results", []) if _sent_it(run, result, message)]
    return max(fitting, key=lambda pair: float(pair[1]["started"]), default=None)


def _arrival(message: dict[str, Any]) -> dict[str, Any]:
    to = ", ".join(f"<{r}>" for r in message["rcpt_tos"])
    return {"t": message["received_at"], "kind": "sink", "where": "sink",
            "text": f"arrived from {message['peer']}: MAIL FROM <{message['mail_from']}> RCPT TO {to}; the sink "
                    f"answered {message['reply']} ({message['size']} bytes)"}


def _sent_it(run: dict[str, Any], result: dict[str, Any], message: dict[str, Any]) -> bool:
    envelope = result.get("envelope") or {}
    if not envelope or envelope.get("sender") != message["mail_from"]:
        return False
    if not set(envelope.get("recipients", ())) & set(message["rcpt_tos"]):
        return False
    return float(result["started"]) <= float(message["received_at"]) <= float(result["finished"]) + SLACK_S


def _sent(run: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    outcome = result["summary"] if result["ok"] else f"FAILED: expected {result['expected']}, got {result['got']}"
    return {"t": result["started"], "kind": "smoke", "where": f"smoke {result['name']}",
            "text": f"{result['name']} ({result['type']}, run {run['id']}, {run['reason']}) sent it: {outcome}"}
