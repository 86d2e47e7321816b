"""`devstack up --record FILE`: keep the session for demo recordings.

    .cast   asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/), playable with `asciinema play`
    .svg    rich's SVG export of everything printed
    .html   rich's HTML export

Every form keeps whole lines: a recording is as wide as its longest line (at least the terminal), so a smoke
line's timings at its end are not cut off at the terminal's edge.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from rich.cells import cell_len

from devstack.errors import UsageError
from devstack.observe.console import Console

_SUFFIXES = (".cast", ".svg", ".html")
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


class CastStream:
    """A text stream that passes everything on and remembers when each piece was written."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.started = time.time()
        self.events: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.events.append((time.time() - self.started, text))
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def save(self, path: Path, width: int, height: int) -> None:
        width = max(width, widest("".join(text for _, text in self.events)))
        header = {"version": 2, "width": width, "height": height, "timestamp": int(self.started),
                  "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"}, "title": "devstack up"}
        lines = [json.dumps(header)]
        # A terminal needs CR LF; what devstack prints has bare LF.
        lines += [json.dumps([round(at, 6), "o", text.replace("\r\n", "\n").replace("\n", "\r\n")])
                  for at, text in self.events]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def recording_console(path: Path, console: Console) -> Console:
    if path.suffix not in _SUFFIXES:
        raise UsageError(f"--record: {path.name}: expected a file ending in {', '.join(_SUFFIXES)}")
    if path.suffix == ".cast":
        stream = CastStream(sys.stdout)
        recording = Console(stream, tty=console.tty)  # type: ignore[arg-type]
        recording.on_close.append(lambda: stream.save(path, *shutil.get_terminal_size((100, 30))))
        return recording
    recording = Console(tty=console.tty, record=True)
    recording.on_close.append(lambda: _export(recording, path))
    return recording


def _export(recording: Console, path: Path) -> None:
    rich = recording.rich
    # rich's SVG export crops each line at the console's width: widen it to the longest line first.
    rich.width = max(rich.width, widest(rich.export_text(clear=False)))
    if path.suffix == ".svg":
        rich.save_svg(str(path), title="devstack up")
    else:
        rich.save_html(str(path))


def widest(text: str) -> int:
    """The width in terminal cells of the longest line of `text`, escape sequences left out."""
    return max((cell_len(line) for line in _ESCAPES.sub("", text).replace("\r", "\n").split("\n")), default=0)


def finish(console: Console) -> None:
    for close in console.on_close:
        close()
