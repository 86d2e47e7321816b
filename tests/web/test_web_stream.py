"""The dashboard's event stream: the board when it changes (and only then), log lines as they come, a resumed
stream that starts where the last one ended, and a flood that reaches the browser bounded, with what was left
out counted."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from devstack.web import stream as sse
from tests.web.conftest import TOKEN, Served


def events(served: Served, *, until: int, last_id: int | None = None) -> list[tuple[str, dict, str | None]]:
    """The first `until` events of a new stream: (kind, data, id)."""
    headers = {"Authorization": f"Bearer {TOKEN}"} | ({"Last-Event-ID": str(last_id)} if last_id else {})
    found: list[tuple[str, dict, str | None]] = []
    buffer = ""
    with httpx.Client(base_url=served.base, timeout=10) as client, \
            client.stream("GET", "/api/stream", headers=headers) as response:
        for chunk in response.iter_text():
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
                if "event" in fields:
                    found.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
                if len(found) >= until:
                    return found
    return found


@pytest.fixture
def quiet(served: Served) -> Iterator[Served]:
    before = json.dumps(served.backend.board)
    yield served
    served.backend.board.update(json.loads(before))


def test_the_board_comes_first_then_again_only_when_it_changed(quiet: Served) -> None:
    first = events(quiet, until=1)
    assert first[0][0] == "state" and [r["name"] for r in first[0][1]["resources"]] == ["relay", "sink"]
    quiet.backend.logs.add("relay", "a line, so that a second event comes")
    kinds = [kind for kind, _, _ in events(quiet, until=2)]
    assert kinds == ["state", "logs"]  # the unchanged board is not sent twice


def test_lines_come_numbered_and_a_resumed_stream_starts_after_the_last_one(served: Served) -> None:
    book = served.backend.logs
    start = book.count
    for n in range(3):
        book.add("relay", f"line {n}")
    _, batch, last = next(e for e in events(served, until=2) if e[0] == "logs")
    assert [(line["r"], line["x"]) for line in batch["lines"]][-3:] == [("relay", f"line {n}") for n in range(3)]
    assert int(last or 0) == start + 3
    book.add("sink", "after the reconnect")
    _, resumed, _ = next(e for e in events(served, until=2, last_id=start + 3) if e[0] == "logs")
    assert [line["x"] for line in resumed["lines"]] == ["after the reconnect"]
    assert resumed["skipped"] == 0


def test_a_flood_reaches_the_browser_bounded_and_counted(served: Served) -> None:
    """Four services print more than a batch holds, and more than the daemon keeps of each."""
    book = served.backend.logs
    start = book.count
    flood = 4 * book.per_resource + 100
    for n in range(flood):
        book.add(f"chatty{n % 4}", f"flood {n}")
    _, batch, _ = next(e for e in events(served, until=2, last_id=start) if e[0] == "logs")
    assert len(batch["lines"]) == sse.MAX_LINES < 4 * book.per_resource  # a resumed stream: one tick's bound
    assert batch["skipped"] == flood - sse.MAX_LINES
    assert [line["x"] for line in batch["lines"]] == [f"flood {n}" for n in range(flood - sse.MAX_LINES, flood)]
    _, first, _ = next(e for e in events(served, until=2) if e[0] == "logs")
    assert len(first["lines"]) > sse.MAX_LINES  # a new page gets what is kept at once (up to FIRST_LINES)
    assert {line["r"] for line in first["lines"]} >= {"chatty0", "chatty1", "chatty2", "chatty3"}
