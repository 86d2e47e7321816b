"""A line of a resource's log as the console shows it: the service's behind its name and a bar, devstack's own
word about the stream (a Kubernetes log that ended and could not be resumed) as an event of the resource, never
as if the service had printed it; and the same split in `devstack logs` and `logs --json`."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from devstack.cli.logs import Printer
from devstack.observe import logs
from devstack.observe.console import Console
from devstack.providers.base import LogLine

SERVICE = LogLine(text="relay listening", time="2026-12-07T01:02:03.5Z", source="relay-1/relay")
DEVSTACK = LogLine(text="log of relay-1/relay ended: container not found", source="relay-1/relay", devstack=True)


def shown(write: Callable[[Console], object]) -> list[str]:
    out = io.StringIO()
    write(Console(out, tty=False))
    return out.getvalue().splitlines()


def test_the_service_speaks_behind_a_bar_and_devstack_as_an_event() -> None:
    service, note = shown(lambda console: [logs.show(console, "relay", line) for line in (SERVICE, DEVSTACK)])
    assert service.split(" ", 1)[1].split() == ["relay", "│", "relay", "listening"]
    assert "│" not in note and note.split()[1:] == ["relay", "log", "of", "relay-1/relay", "ended:", "container", "not",
                                                 "found"]


def test_logs_says_the_same_and_marks_devstacks_lines_in_json() -> None:
    text = shown(lambda console: [Printer(console, as_json=False, timestamps=False)("relay", line)
                                  for line in (SERVICE, DEVSTACK)])
    assert "│" in text[0] and "│" not in text[1]
    records = [json.loads(line) for line in shown(
        lambda console: [Printer(console, as_json=True, timestamps=False)("relay", line) for line in (SERVICE,
                                                                                                      DEVSTACK)])]
    assert [r["stream"] for r in records] == [None, "devstack"]
    assert records[1]["text"] == "log of relay-1/relay ended: container not found"
